import { useReadinessCheck, type Plugin } from 'graphql-yoga';

/** The probes' paths; `/health` answers while the process lives (yoga's own check). */
export const probePaths = { health: '/health', ready: '/ready' } as const;

/** `/ready`: 200 once the engine answers and berth has listed it, 503 while the engine is out of reach. */
export function useReadiness(engineReady: () => boolean | Promise<boolean>): Plugin {
  return useReadinessCheck({ endpoint: probePaths.ready, check: engineReady });
}
