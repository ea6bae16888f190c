import { operatorOnly } from '../../auth/auth-plugin.ts';
import type { ImagePull, PullLayer, PullState } from '../../modules/image-pulls.ts';
import { builder } from '../builder.ts';
import { describedValues } from './enum-values.ts';
import { ModuleRef } from './module.ts';

const states: Record<PullState, string> = {
  PULLING: 'The engine is pulling the image.',
  DONE: 'The image is on the engine: the module is NOT_CREATED, or on its way to RUNNING when it autostarts.',
  FAILED: 'The pull failed; `error` says why.',
};

const ImagePullStateEnum = builder.enumType('ImagePullState', { values: describedValues(states) });

const ImagePullLayerRef = builder.objectRef<PullLayer>('ImagePullLayer').implement({
  description: 'One layer of the image, as the docker CLI shows it.',
  fields: (t) => ({
    id: t.exposeString('id', { description: "The engine's short id of the layer." }),
    status: t.exposeString('status', { description: 'The engine\'s last word on it: "Waiting", "Downloading", "Extracting", "Pull complete", "Already exists"…' }),
    current: t.field({ type: 'SafeInt', nullable: true, description: 'Bytes done in the phase the status names (download or extraction); null when it shows none.', resolve: (layer) => layer.current }),
    total: t.field({ type: 'SafeInt', nullable: true, description: 'Bytes of that phase; null when it shows none.', resolve: (layer) => layer.total }),
  }),
});

const ImagePullRef = builder.objectRef<ImagePull>('ImagePull').implement({
  description: "A pull of a module's declared image. Byte counts are SafeInts: an image can be larger than GraphQL's 32-bit Int.",
  fields: (t) => ({
    module: t.field({ type: ModuleRef, resolve: (pull, _args, { modules }) => modules.get(pull.module) }),
    image: t.exposeString('image'),
    state: t.field({ type: ImagePullStateEnum, resolve: (pull) => pull.state }),
    current: t.expose('current', { type: 'SafeInt', description: 'Bytes downloaded so far, over every layer; grows as the pull goes.' }),
    total: t.expose('total', { type: 'SafeInt', description: 'Bytes to download: the sizes of the layers the engine has sized so far (layers already on the engine count nothing).' }),
    layers: t.field({ type: [ImagePullLayerRef], resolve: (pull) => pull.layers }),
    error: t.string({ nullable: true, description: "Why it FAILED: the registry's or the engine's message, secrets scrubbed.", resolve: (pull) => pull.error }),
  }),
});

builder.mutationField('pullModuleImage', (t) =>
  t.field({
    type: ImagePullRef,
    description:
      "Starts pulling the module's declared image, or joins the pull under way, and answers once the engine has accepted it (at most 5 s): PULL_FAILED when the registry refuses (wrong credentials, missing tag). Follow it with imagePullProgress.",
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }, { modules }) => modules.pullImage(name),
  }),
);

builder.subscriptionField('imagePullProgress', (t) =>
  t.field({
    type: ImagePullRef,
    extensions: operatorOnly,
    description:
      "The pull of the module's image as it goes, ending after DONE or FAILED. Opens with the pull under way; after the last pull ended, delivers how it ended and ends; before any pull, waits for the next. A follower that falls behind skips to the latest progress.",
    args: { name: t.arg.string({ required: true }) },
    subscribe: (_root, { name }, { modules }) => modules.followPull(name),
    resolve: (pull) => pull,
  }),
);
