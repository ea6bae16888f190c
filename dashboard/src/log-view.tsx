import type { Client } from 'graphql-ws';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { subscribe, type ApiError } from './api.ts';
import { logsLive, type LogLine } from './operations.ts';

/** Lines kept in the page: older ones are let go, as a terminal's scrollback. */
export const keptLines = 500;
const tail = 100;

type Following = 'following' | 'ended';

/** moduleLogs for one container: the last lines, then each new one, scrolled to the end while the reader is there. */
export function LogView({ name, client }: { name: string; client: Client }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<Following>('following');
  const [error, setError] = useState<ApiError>();
  const box = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);

  useEffect(() => {
    const logs = subscribe<{ moduleLogs: LogLine }>(client, logsLive, { name, tail }, {
      onData: ({ moduleLogs }) => setLines((now) => [...now.slice(-(keptLines - 1)), moduleLogs]),
      onError: setError,
      onEnd: () => setState('ended'),
    });
    // A reconnect subscribes again, and the tail comes again: it replaces what the page showed, never doubles it.
    const stopClearing = client.on('connected', () => setLines([]));
    return () => {
      stopClearing();
      logs.stop();
    };
  }, [name, client]);

  useLayoutEffect(() => {
    if (atEnd.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);

  return (
    <div class="logs">
      <h3>
        Logs <span class="note">{state === 'following' ? `following, last ${keptLines} lines kept` : 'ended: the container is gone'}</span>
      </h3>
      {error && (
        <p class="error" role="alert">
          <code>{error.code}</code> {error.message}
        </p>
      )}
      <div
        class="log-lines"
        ref={box}
        role="log"
        tabIndex={0}
        aria-label={`Log of ${name}`}
        onScroll={(event) => {
          const { scrollTop, scrollHeight, clientHeight } = event.currentTarget;
          atEnd.current = scrollHeight - scrollTop - clientHeight < 8;
        }}
      >
        {lines.map((line, index) => (
          <div key={index} class={`line ${line.stream.toLowerCase()}`}>
            {line.dropped > 0 && <span class="dropped">… {line.dropped} lines left out …</span>}
            <time dateTime={line.at}>{line.at.slice(11, 19)}</time> {line.text}
          </div>
        ))}
      </div>
    </div>
  );
}
