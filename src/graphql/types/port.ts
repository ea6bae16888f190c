import type { PortProtocol, PortSpec } from '../../config/module-spec.ts';
import { builder } from '../builder.ts';

export const PortProtocolEnum = builder.enumType('PortProtocol', {
  values: {
    TCP: { value: 'tcp' },
    UDP: { value: 'udp' },
    SCTP: { value: 'sctp' },
  } as const satisfies Record<string, { value: PortProtocol }>,
});

export const PortRef = builder.objectRef<PortSpec>('Port').implement({
  description: 'A named port of a module, published on the host.',
  fields: (t) => ({
    name: t.exposeString('name'),
    in: t.exposeInt('in', { description: 'Port inside the container.' }),
    out: t.exposeInt('out', { description: 'Host port it is published on.' }),
    host: t.string({ nullable: true, description: 'The host address it is published on; null: every address.', resolve: (port) => port.host }),
    protocol: t.field({ type: PortProtocolEnum, resolve: (port) => port.protocol }),
  }),
});
