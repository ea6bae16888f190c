import type { Client } from 'graphql-ws';
import { useEffect, useState } from 'preact/hooks';
import { connect, request, subscribe, type ApiError, type ConnectionState } from './api.ts';
import type { Role } from './app.tsx';
import { ModuleRow, type Action } from './module-row.tsx';
import { moduleNames, modulesLive, restartModule, startModule, startModules, stopModule, stopModules, type Module } from './operations.ts';

const mutations: Record<Action, string> = { start: startModule, stop: stopModule, restart: restartModule };

/** How often the page asks which modules docker.yaml declares (a reload's removals). */
const pruneMs = 5_000;
/** How long after berth ended the feed the page subscribes again. */
const resubscribeMs = 1_000;

interface Props {
  token: string;
  role: Role;
  /** berth refused the token (UNAUTHENTICATED) or its role (FORBIDDEN) on an operation. */
  onRefused: (code: 'UNAUTHENTICATED' | 'FORBIDDEN') => void;
}

/** Every module live over one moduleChanged subscription, with the operator's actions. */
export function Dashboard({ token, role, onRefused }: Props) {
  const [client, setClient] = useState<Client>();
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [modules, setModules] = useState<Map<string, Module>>(new Map());
  const [errors, setErrors] = useState<Record<string, ApiError | undefined>>({});
  const [busy, setBusy] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [feedError, setFeedError] = useState<ApiError>();
  const operator = role === 'operator';

  useEffect(() => {
    const ws = connect(token, setConnection);
    setClient(ws);
    let live: { stop(): void } | undefined;
    let again: ReturnType<typeof setTimeout> | undefined;
    // berth ends a feed that fell too far behind (it says to subscribe again with initial): so the page does.
    const follow = () => {
      live = subscribe<{ moduleChanged: Module }>(ws, modulesLive, {}, {
        onData: ({ moduleChanged }) => {
          setFeedError(undefined);
          setModules((known) => new Map(known).set(moduleChanged.name, moduleChanged));
        },
        onError: (error) => {
          if (error.code === 'UNAUTHENTICATED') onRefused('UNAUTHENTICATED');
          else setFeedError(error);
        },
        onEnd: () => (again = setTimeout(follow, resubscribeMs)),
      });
    };
    follow();
    // A module a reload removed is not announced by moduleChanged: the names docker.yaml declares are asked again.
    const prune = setInterval(() => {
      void request<{ modules: { name: string }[] }>(token, moduleNames).then(({ data }) => {
        if (!data) return;
        const declared = new Set(data.modules.map((module) => module.name));
        setModules((known) => ([...known.keys()].every((name) => declared.has(name)) ? known : new Map([...known].filter(([name]) => declared.has(name)))));
      });
    }, pruneMs);
    return () => {
      clearInterval(prune);
      clearTimeout(again);
      live?.stop();
      void ws.dispose();
    };
  }, [token]);
  const mark = (names: string[], on: boolean) =>
    setBusy((now) => {
      const next = new Set(now);
      for (const name of names) if (on) next.add(name); else next.delete(name);
      return next;
    });
  const report = (names: string[], found: (ApiError | undefined)[]) => {
    setErrors((now) => ({ ...now, ...Object.fromEntries(names.map((name, index) => [name, found[index]])) }));
    const refusal = found.find((error) => error?.code === 'UNAUTHENTICATED' || error?.code === 'FORBIDDEN');
    if (refusal) onRefused(refusal.code as 'UNAUTHENTICATED' | 'FORBIDDEN');
  };

  const act = async (action: Action, name: string) => {
    mark([name], true);
    const answer = await request<Record<string, Module>>(token, mutations[action], { name });
    mark([name], false);
    // The module's state comes from the feed alone: an answer may arrive after a newer change it delivered.
    report([name], [answer.errors?.[0]]);
  };

  /** startModules/stopModules: a module that failed is null in the answer, its error at its index. */
  const actOnSelected = async (action: 'start' | 'stop') => {
    const names = [...selected];
    mark(names, true);
    const answer = await request<Record<string, (Module | null)[]>>(token, action === 'start' ? startModules : stopModules, { names });
    mark(names, false);
    report(names, names.map((_, index) => answer.errors?.find((error) => error.path?.[1] === index) ?? (answer.data ? undefined : answer.errors?.[0])));
  };

  const toggle = (name: string, on: boolean) =>
    setSelected((now) => {
      const next = new Set(now);
      if (on) next.add(name); else next.delete(name);
      return next;
    });

  return (
    <section aria-label="Modules">
      <div class="toolbar">
        <span class={`connection ${connection}`} data-state={connection} role="status">
          {connection === 'connected' ? 'live' : connection === 'connecting' ? 'connecting…' : 'disconnected: reconnecting…'}
        </span>
        {operator && (
          <>
            <button type="button" disabled={selected.size === 0} onClick={() => void actOnSelected('start')}>
              Start selected
            </button>
            <button type="button" disabled={selected.size === 0} onClick={() => void actOnSelected('stop')}>
              Stop selected
            </button>
          </>
        )}
      </div>
      {feedError && (
        <p class="error" role="alert">
          {feedError.code}: {feedError.message}
        </p>
      )}
      {modules.size === 0 && connection === 'connected' && !feedError && <p class="note">No modules yet.</p>}
      <ul class="modules">
        {[...modules.values()].map((module) => (
          <ModuleRow
            key={module.name}
            module={module}
            client={client}
            token={token}
            operator={operator}
            busy={busy.has(module.name)}
            error={errors[module.name]}
            selected={selected.has(module.name)}
            onSelect={(on) => toggle(module.name, on)}
            onAction={(action) => void act(action, module.name)}
            onError={(error) => report([module.name], [error])}
          />
        ))}
      </ul>
    </section>
  );
}
