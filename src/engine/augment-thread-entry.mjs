// The augmentation thread starts as plain JavaScript: the TypeScript loader has to be registered per thread.
import { register } from 'tsx/esm/api';

register();
await import('./augment-thread.ts');
