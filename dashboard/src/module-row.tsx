import type { Client } from 'graphql-ws';
import { useState } from 'preact/hooks';
import type { ApiError } from './api.ts';
import { LogView } from './log-view.tsx';
import type { Module } from './operations.ts';
import { PullButton } from './pull-button.tsx';
import { StatsChart } from './stats-chart.tsx';

export type Action = 'start' | 'stop' | 'restart';

interface Props {
  module: Module;
  client: Client | undefined;
  token: string;
  operator: boolean;
  busy: boolean;
  error: ApiError | undefined;
  selected: boolean;
  onSelect: (on: boolean) => void;
  onAction: (action: Action) => void;
  onError: (error: ApiError | undefined) => void;
}

const statusText: Record<Module['status'], string> = {
  NOT_LOADED: 'not loaded',
  NOT_CREATED: 'not created',
  RUNNING: 'running',
  EXITED: 'exited',
  HANDLING: 'handling',
};

export function ModuleRow({ module, client, token, operator, busy, error, selected, onSelect, onAction, onError }: Props) {
  const [expanded, setExpanded] = useState(false);
  const { name, status } = module;
  const stopped = status === 'NOT_CREATED' || status === 'EXITED';
  const detailsId = `details-${name}`;
  return (
    <li class="module" data-module={name}>
      <div class="summary">
        {operator && (
          <input type="checkbox" class="select" aria-label={`Select ${name}`} checked={selected} onChange={(event) => onSelect(event.currentTarget.checked)} />
        )}
        <h2 class="name">{name}</h2>
        <span class="status" data-status={status} title={status}>
          {statusText[status]}
          {status === 'EXITED' && module.exitCode !== null && ` (${module.exitCode})`}
        </span>
        <dl class="facts">
          <dt>health</dt>
          <dd class="health" data-health={module.health}>{module.health.toLowerCase()}</dd>
          <dt>engine</dt>
          <dd>{module.engine}</dd>
          <dt>image</dt>
          <dd class="image">{module.image}</dd>
          {module.ports.length > 0 && (
            <>
              <dt>ports</dt>
              <dd class="ports">
                {module.ports.map((port) =>
                  port.protocol === 'TCP' ? (
                    <a key={port.name} href={portUrl(port.host, port.out)} target="_blank" rel="noopener noreferrer">
                      {port.name} :{port.out}
                    </a>
                  ) : (
                    <span key={port.name}>
                      {port.name} :{port.out}/{port.protocol.toLowerCase()}
                    </span>
                  ),
                )}
              </dd>
            </>
          )}
        </dl>
        {operator && (
          <div class="actions">
            <PullButton name={name} client={client} token={token} loadable={status === 'NOT_LOADED'} onError={onError} />
            {status !== 'NOT_LOADED' && (
              <>
                <button type="button" disabled={busy || status === 'RUNNING'} onClick={() => onAction('start')}>
                  Start
                </button>
                <button type="button" disabled={busy || stopped} onClick={() => onAction('stop')}>
                  Stop
                </button>
                <button type="button" disabled={busy} onClick={() => onAction('restart')}>
                  Restart
                </button>
              </>
            )}
            <button type="button" aria-expanded={expanded} aria-controls={detailsId} onClick={() => setExpanded(!expanded)}>
              {expanded ? 'Hide logs & stats' : 'Logs & stats'}
            </button>
          </div>
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          <code>{error.code}</code> {error.message}
        </p>
      )}
      {operator && expanded && client && (
        <div class="details" id={detailsId}>
          {status === 'RUNNING' ? <StatsChart key={module.containerId} name={name} client={client} /> : <p class="note">CPU and memory show while the module runs.</p>}
          <LogView key={module.containerId ?? 'none'} name={name} client={client} />
        </div>
      )}
    </li>
  );
}

/**
 * A published port's address: the host address it is bound to when it names one, else the page's own host
 * (a module on another engine is reached at that engine's address, which the API does not give).
 */
function portUrl(host: string | null, port: number): string {
  const address = !host || host === '0.0.0.0' || host === '::' ? location.hostname : host.includes(':') ? `[${host}]` : host;
  return `http://${address}:${port}/`;
}
