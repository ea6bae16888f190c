import { dependencyConditions, type Dependency, type DependencyCondition } from '../../config/module-spec.ts';
import { builder } from '../builder.ts';
import { ModuleRef } from './module.ts';

const descriptions: Record<DependencyCondition, string> = {
  started: 'The dependency runs.',
  healthy: 'The dependency runs and its healthcheck passes.',
  completed: 'The dependency ran and exited with code 0 (a job).',
};

const DependencyConditionEnum = builder.enumType('DependencyCondition', {
  values: Object.fromEntries(dependencyConditions.map((condition) => [condition.toUpperCase(), { value: condition, description: descriptions[condition] }])) as Record<
    Uppercase<DependencyCondition>,
    { value: DependencyCondition; description: string }
  >,
});

const ModuleDependencyRef = builder.objectRef<Dependency>('ModuleDependency').implement({
  description: 'A module that must reach a condition before this one starts (docker.yaml dependsOn).',
  fields: (t) => ({
    module: t.field({ type: ModuleRef, resolve: (dependency, _args, { modules }) => modules.get(dependency.module) }),
    condition: t.field({ type: DependencyConditionEnum, resolve: (dependency) => dependency.condition }),
  }),
});

builder.objectField(ModuleRef, 'dependsOn', (t) =>
  t.field({
    type: [ModuleDependencyRef],
    description: 'What startModule brings about first, in order, and what autostart waits for.',
    resolve: (module) => module.spec.dependsOn,
  }),
);
