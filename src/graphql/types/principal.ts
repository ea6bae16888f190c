import type { Principal, Role } from '../../auth/tokens.ts';
import { builder } from '../builder.ts';

const roleValues: Record<Uppercase<Role>, { value: Role; description: string }> = {
  VIEWER: { value: 'viewer', description: 'Queries, and the subscriptions of status.' },
  OPERATOR: { value: 'operator', description: 'Every operation: mutations, logs, stats, pulls and loads too.' },
};

export const RoleEnum = builder.enumType('Role', { values: roleValues });

const PrincipalRef = builder.objectRef<Principal>('Principal').implement({
  description: 'Who asks: the token, by its name in the tokens file, and its role.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The token\'s name; `anonymous` while authentication is off.' }),
    role: t.expose('role', { type: RoleEnum }),
  }),
});

builder.queryField('principal', (t) =>
  t.field({
    type: PrincipalRef,
    description: 'Who the request is made as: a client (the dashboard) shows what its role may do, without trying what it may not.',
    resolve: (_root, _args, { principal }) => principal!,
  }),
);
