import type { Client } from 'graphql-ws';
import { useEffect, useRef, useState } from 'preact/hooks';
import { request, subscribe, type ApiError, type Subscription } from './api.ts';
import { pullImage, pullProgress, type ImagePull } from './operations.ts';
import { bytes } from './units.ts';

interface Props {
  name: string;
  client: Client | undefined;
  token: string;
  /** The module is NOT_LOADED: a pull may start. Once it is loaded the last pull stays shown. */
  loadable: boolean;
  onError: (error: ApiError | undefined) => void;
}

/** pullModuleImage for a NOT_LOADED module, and a bar that follows imagePullProgress to DONE or FAILED. */
export function PullButton({ name, client, token, loadable, onError }: Props) {
  const [pull, setPull] = useState<ImagePull>();
  const progress = useRef<Subscription>(undefined);
  useEffect(() => () => progress.current?.stop(), []);

  const start = async () => {
    if (!client) return;
    onError(undefined);
    setPull({ state: 'PULLING', current: 0, total: 0, error: null });
    // Subscribed first: before any pull, imagePullProgress waits for the next, so no progress is missed.
    progress.current?.stop();
    progress.current = subscribe<{ imagePullProgress: ImagePull }>(client, pullProgress, { name }, {
      onData: ({ imagePullProgress }) => {
        setPull(imagePullProgress);
        if (imagePullProgress.state === 'FAILED') onError({ code: 'PULL_FAILED', message: imagePullProgress.error ?? 'the pull failed' });
      },
      onError,
    });
    const answer = await request(token, pullImage, { name });
    if (answer.errors) {
      progress.current.stop();
      setPull(undefined);
      onError(answer.errors[0]);
    }
  };

  const pulling = pull?.state === 'PULLING';
  if (!loadable && !pull) return null;
  return (
    <span class="pull">
      {loadable && (
        <button type="button" disabled={pulling} onClick={() => void start()}>
          {pulling ? 'Pulling…' : 'Pull image'}
        </button>
      )}
      {pull && (
        <span class="pull-progress" data-state={pull.state} data-current={pull.current} data-total={pull.total}>
          <progress aria-label={`Pull of ${name}`} max={pull.total || 1} value={pull.state === 'DONE' ? pull.total || 1 : pull.current} />
          <span class="pull-bytes">{pull.state === 'DONE' ? 'image pulled' : `${bytes(pull.current)} of ${bytes(pull.total)}`}</span>
        </span>
      )}
    </span>
  );
}
