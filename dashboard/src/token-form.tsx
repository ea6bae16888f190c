import { useState } from 'preact/hooks';

/** Asks for a token (npm run token makes them); kept for this tab only. */
export function TokenForm({ message, onToken }: { message: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token"
      onSubmit={(event) => {
        event.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h2>Sign in</h2>
      {message && (
        <p class="error" role="alert">
          {message}
        </p>
      )}
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" required value={value} onInput={(event) => setValue(event.currentTarget.value)} />
      <button type="submit">Use token</button>
      <p class="note">berth needs a token (npm run token makes one). It is kept for this tab only, until you forget it or close the tab.</p>
    </form>
  );
}
