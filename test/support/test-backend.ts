import type { BackendPreference } from '../../src/config/config.js';

/**
 * The backend the engine's layer and training tests run on: wasm, or `native` in the vitest project
 * of the same name (vitest.config.ts), so the hidden-layer tests hold on the OpenBLAS kernels too.
 */
export const testBackend = (process.env.TRAINYARD_TEST_BACKEND ?? 'wasm') as Extract<BackendPreference, 'wasm' | 'native'>;
