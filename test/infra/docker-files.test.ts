/**
 * Offline checks of docker/: no Docker engine runs here, so the images are never built in CI. What
 * can go stale without a build is checked by reading the files: paths the Dockerfiles copy and start,
 * the compose file's wiring, the CUDA base of the GPU image, and the Node version of every image.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dockerDir = path.join(root, 'docker');
const composeFile = path.join(dockerDir, 'compose.yaml');

// ---- a small Dockerfile reader (no heredocs, default escape character) ----------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name?: string;
  /** The FROM argument with build arguments substituted: an image or an earlier stage's name. */
  from: string;
  /** ARG defaults declared in this stage (ARGs before the first FROM are global). */
  args: Map<string, string>;
  instructions: Instruction[];
}

interface Dockerfile {
  file: string;
  stages: Stage[];
}

function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const trimmed = raw.trim();
    // Comments (and parser directives) are whole lines; inside a continued instruction they are skipped.
    if (trimmed.startsWith('#')) continue;
    if (!pending && !trimmed) continue;
    if (raw.trimEnd().endsWith('\\')) {
      pending += `${raw.trimEnd().slice(0, -1)} `;
      continue;
    }
    lines.push(`${pending}${raw}`.trim());
    pending = '';
  }
  if (pending.trim()) lines.push(pending.trim());
  return lines;
}

function substitute(value: string, args: Map<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const resolved = args.get(name);
    if (resolved === undefined) throw new Error(`build argument ${name} has no default`);
    return resolved;
  });
}

function parseArg(args: string): [string, string | undefined] {
  const [name, ...rest] = args.split('=');
  const value = rest.length > 0 ? rest.join('=').replace(/^"(.*)"$/, '$1') : undefined;
  return [name!.trim(), value];
}

function readDockerfile(file: string): Dockerfile {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logicalLines(readFileSync(file, 'utf8'))) {
    const match = /^(\w+)\s*(.*)$/s.exec(line);
    if (!match) throw new Error(`${file}: cannot read "${line}"`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    const stage = stages.at(-1);
    if (keyword === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toLowerCase() === 'as');
      stages.push({
        from: substitute(words[0]!, globalArgs),
        ...(asIndex >= 0 ? { name: words[asIndex + 1] } : {}),
        args: new Map(),
        instructions: [],
      });
    } else if (keyword === 'ARG') {
      const [name, value] = parseArg(args);
      if (!stage) {
        if (value !== undefined) globalArgs.set(name, value);
      } else if (value !== undefined) {
        stage.args.set(name, value);
      } else if (globalArgs.has(name)) {
        // `ARG NAME` inside a stage brings the global default into it.
        stage.args.set(name, globalArgs.get(name)!);
      }
    } else {
      if (!stage) throw new Error(`${file}: ${keyword} before the first FROM`);
      stage.instructions.push({ keyword, args });
    }
  }
  return { file, stages };
}

const dockerfileNames = readdirSync(dockerDir).filter((name) => name === 'Dockerfile' || name.endsWith('.Dockerfile'));
const dockerfiles = new Map(dockerfileNames.map((name) => [name, readDockerfile(path.join(dockerDir, name))]));

function dockerfile(name: string): Dockerfile {
  const parsed = dockerfiles.get(name);
  if (!parsed) throw new Error(`docker/${name} is missing`);
  return parsed;
}

function finalStage(file: Dockerfile): Stage {
  return file.stages.at(-1)!;
}

/** The image a stage finally builds on, following `FROM <earlier stage>`, with that chain's ARG defaults. */
function baseOf(file: Dockerfile, stage: Stage): { image: string; chain: Stage[] } {
  const chain = [stage];
  let from = stage.from;
  for (;;) {
    const parent = file.stages.find((candidate) => candidate.name === from);
    if (!parent) return { image: from, chain };
    chain.push(parent);
    from = parent.from;
  }
}

function instructionsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
}

/** COPY/ADD sources taken from the build context (not from another stage or image). */
function contextSources(instruction: string): string[] {
  if (instruction.startsWith('[')) {
    const parts = JSON.parse(instruction) as string[];
    return parts.slice(0, -1);
  }
  const words = instruction.split(/\s+/);
  if (words.some((word) => word.startsWith('--from='))) return [];
  const paths = words.filter((word) => !word.startsWith('--'));
  return paths.slice(0, -1);
}

function execForm(instruction: string): string[] {
  // HEALTHCHECK's options come before its CMD.
  const json = instruction.slice(instruction.indexOf('['));
  return JSON.parse(json) as string[];
}

function envOf(file: Dockerfile, stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const current of baseOf(file, stage).chain.reverse()) {
    for (const args of instructionsOf(current, 'ENV')) {
      for (const [, name, value] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(name!, value!.replace(/^"(.*)"$/, '$1'));
    }
  }
  return env;
}

function allRuns(file: Dockerfile): string {
  return file.stages.flatMap((stage) => instructionsOf(stage, 'RUN')).join('\n');
}

/** Packages whose install scripts a Dockerfile runs with `npm rebuild`. */
function rebuiltPackages(file: Dockerfile): string[] {
  return [...allRuns(file).matchAll(/npm rebuild((?:\s+[^\s&;|]+)+)/g)].flatMap((match) => match[1]!.trim().split(/\s+/).filter((word) => !word.startsWith('-')));
}

/** The Node version each image runs: the node:<version>-… base tag, or the NODE_VERSION of the tarball install. */
function nodeVersionOf(file: Dockerfile): string {
  const { image, chain } = baseOf(file, finalStage(file));
  const tag = /^node:(\d+(?:\.\d+){0,2})(?:-|$)/.exec(image);
  if (tag) return tag[1]!;
  const fromArg = chain.map((stage) => stage.args.get('NODE_VERSION')).find((value) => value !== undefined);
  if (!fromArg) throw new Error(`${path.basename(file.file)}: neither a node:<version> base nor a NODE_VERSION argument`);
  expect(allRuns(file)).toContain('nodejs.org/dist/v${NODE_VERSION}/');
  return fromArg;
}

// ---- semver ranges as package.json engines writes them (>=, >, <=, <, =, ^, ~, x, ||) --------------

type Version = [number, number, number];

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function satisfies(version: string, range: string): boolean {
  const v = version.split('.').map(Number).concat([0, 0]).slice(0, 3) as Version;
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .split(/\s+/)
      .every((comparator) => {
        const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(comparator);
        if (!match) throw new Error(`unsupported engines comparator "${comparator}"`);
        const [, op = '', majorText, minorText, patchText] = match;
        const major = Number(majorText);
        const minor = minorText === undefined || /[x*]/.test(minorText) ? undefined : Number(minorText);
        const patch = patchText === undefined || /[x*]/.test(patchText) ? undefined : Number(patchText);
        const low: Version = [major, minor ?? 0, patch ?? 0];
        switch (op) {
          case '>=':
            return compare(v, low) >= 0;
          case '>':
            return minor === undefined ? v[0] > major : patch === undefined ? compare(v, [major, minor + 1, 0]) >= 0 : compare(v, low) > 0;
          case '<':
            return compare(v, low) < 0;
          case '<=':
            return minor === undefined ? v[0] <= major : patch === undefined ? compare(v, [major, minor + 1, 0]) < 0 : compare(v, low) <= 0;
          case '^':
            return compare(v, low) >= 0 && compare(v, major > 0 ? [major + 1, 0, 0] : [0, (minor ?? 0) + 1, 0]) < 0;
          case '~':
            return compare(v, low) >= 0 && compare(v, minor === undefined ? [major + 1, 0, 0] : [major, minor + 1, 0]) < 0;
          default:
            // A bare or x-version is the whole range it names.
            if (minor === undefined) return v[0] === major;
            if (patch === undefined) return v[0] === major && v[1] === minor;
            return compare(v, low) === 0;
        }
      }),
  );
}

// ---- compose -------------------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  environment?: Record<string, string | number | null> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  profiles?: string[];
  ports?: (string | { target?: number | string })[];
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; capabilities?: string[]; count?: number | string }[] } } };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// Merge keys (<<: *anchor) are YAML 1.1, as Compose reads them.
const compose = parseYaml(readFileSync(composeFile, 'utf8'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
/** Services built from this repository: the Trainyard processes. */
const trainyardServices = services.filter(([, service]) => service.build !== undefined);

function buildDockerfile(service: ComposeService): string {
  const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
  return path.resolve(dockerDir, build.context ?? '.', build.dockerfile ?? 'Dockerfile');
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

function dataMounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      return { source: source!, target: target ?? source! };
    }
    return { source: volume.source ?? '', target: volume.target ?? '' };
  });
}

function dockerignorePatterns(): string[] {
  return readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

// ---- the checks ----------------------------------------------------------------------------------

describe('docker/ Dockerfiles', () => {
  it('are the all-in-one image and the three split images', () => {
    expect(dockerfileNames.sort()).toEqual(['Dockerfile', 'api.Dockerfile', 'worker-cpu.Dockerfile', 'worker-gpu.Dockerfile']);
  });

  it('copy only paths that exist in the repository and are not left out of the build context', () => {
    const ignored = dockerignorePatterns();
    for (const [name, file] of dockerfiles) {
      const sources = file.stages.flatMap((stage) => [...instructionsOf(stage, 'COPY'), ...instructionsOf(stage, 'ADD')].flatMap(contextSources));
      expect(sources.length, name).toBeGreaterThan(0);
      for (const source of sources) {
        expect(existsSync(path.join(root, source)), `${name}: COPY ${source}`).toBe(true);
        expect(ignored, `${name}: COPY ${source} is excluded by .dockerignore`).not.toContain(source.replace(/\/$/, ''));
      }
    }
  });

  it('copy what the processes read at run time', () => {
    // src/db/migrator.ts reads prisma/migrations, the API openapi/ and examples/, the worker workers/trainer-process.ts.
    const needed = ['package.json', 'package-lock.json', 'scripts', 'prisma', 'prisma.config.ts', 'tsconfig.json', 'src', 'workers', 'bin', 'openapi', 'examples'];
    for (const [name, file] of dockerfiles) {
      const copied = file.stages.flatMap((stage) => instructionsOf(stage, 'COPY').flatMap(contextSources)).map((source) => source.replace(/\/$/, ''));
      expect(copied.filter((source) => needed.includes(source)).sort(), name).toEqual([...needed].sort());
    }
  });

  it('start an entry file that exists and that the image copies', () => {
    const expected: Record<string, string> = {
      Dockerfile: 'workers/all-in-one.ts',
      'api.Dockerfile': 'workers/api.ts',
      'worker-cpu.Dockerfile': 'workers/training-worker.ts',
      'worker-gpu.Dockerfile': 'workers/training-worker.ts',
    };
    for (const [name, file] of dockerfiles) {
      const cmd = instructionsOf(finalStage(file), 'CMD').at(-1);
      expect(cmd, `${name} has a CMD`).toBeDefined();
      const argv = execForm(cmd!);
      expect(argv.slice(0, 3), name).toEqual(['node', '--import', 'tsx']);
      const entry = argv.find((arg) => /\.(ts|mjs|js)$/.test(arg))!;
      expect(entry, name).toBe(expected[name]);
      expect(existsSync(path.join(root, entry)), `${name}: ${entry}`).toBe(true);
      const copied = file.stages.flatMap((stage) => instructionsOf(stage, 'COPY').flatMap(contextSources));
      expect(
        copied.some((source) => entry === source || entry.startsWith(`${source.replace(/\/$/, '')}/`)),
        `${name}: ${entry} is not copied into the image`,
      ).toBe(true);
    }
    // The training worker forks this one; it is copied with workers/.
    expect(existsSync(path.join(root, 'workers/trainer-process.ts'))).toBe(true);
  });

  it('keep dev dependencies (tsx runs the TypeScript) and install from the lockfile', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    expect(pkg.dependencies?.tsx ?? pkg.devDependencies?.tsx).toBeDefined();
    for (const [name, file] of dockerfiles) {
      const installs = [...allRuns(file).matchAll(/npm (ci|install|i)\b[^&;|]*/g)].map((match) => match[0]);
      expect(installs.length, name).toBeGreaterThan(0);
      for (const install of installs) {
        expect(install, `${name}: ${install}`).toMatch(/^npm ci\b/);
        // NODE_ENV=production in the environment would otherwise make npm omit them.
        expect(install, `${name}: ${install}`).toContain('--include=dev');
      }
    }
  });

  it('install the native TensorFlow package each image needs and no other', () => {
    const expected: Record<string, string[]> = {
      Dockerfile: ['@tensorflow/tfjs-node'],
      'api.Dockerfile': [],
      'worker-cpu.Dockerfile': ['@tensorflow/tfjs-node'],
      'worker-gpu.Dockerfile': ['@tensorflow/tfjs-node-gpu'],
    };
    for (const [name, file] of dockerfiles) {
      expect(rebuiltPackages(file), name).toEqual(expected[name]);
      const removed = [...allRuns(file).matchAll(/rm -rf((?:\s+node_modules\/\S+)+)/g)].flatMap((match) => match[1]!.trim().split(/\s+/));
      for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].filter((candidate) => !expected[name]!.includes(candidate))) {
        expect(removed, `${name} removes ${pkg}`).toContain(`node_modules/${pkg}`);
      }
    }
  });

  it('run as an unprivileged user', () => {
    for (const [name, file] of dockerfiles) {
      const user = instructionsOf(finalStage(file), 'USER').at(-1);
      expect(user, `${name} sets USER`).toBeDefined();
      expect(['root', '0', '0:0'], name).not.toContain(user);
    }
  });

  it('check the API with GET /healthz on port 3000', () => {
    for (const name of ['Dockerfile', 'api.Dockerfile']) {
      const stage = finalStage(dockerfile(name));
      expect(instructionsOf(stage, 'EXPOSE'), name).toContain('3000');
      const healthcheck = instructionsOf(stage, 'HEALTHCHECK').at(-1);
      expect(healthcheck, name).toBeDefined();
      const argv = execForm(healthcheck!.slice(healthcheck!.indexOf('CMD') + 3).trim());
      expect(argv[0], name).toBe('node');
      expect(argv.join(' '), name).toContain('/healthz');
      expect(argv.join(' '), name).toContain('3000');
    }
  });

  it('set the training backend and device in the worker images', () => {
    const cpu = dockerfile('worker-cpu.Dockerfile');
    const gpu = dockerfile('worker-gpu.Dockerfile');
    expect(Object.fromEntries(envOf(cpu, finalStage(cpu)))).toMatchObject({ TRAINYARD_BACKEND: 'tensorflow', WORKER_DEVICE: 'cpu' });
    // tfjs-node-gpu first, WebGPU on Vulkan where CUDA 11.2 cannot run; the class follows what was found.
    expect(Object.fromEntries(envOf(gpu, finalStage(gpu)))).toMatchObject({
      TRAINYARD_BACKEND: 'auto',
      WEBGPU_BACKEND: 'vulkan',
      WORKER_DEVICE: 'auto',
      NVIDIA_VISIBLE_DEVICES: 'all',
      NVIDIA_DRIVER_CAPABILITIES: 'compute,utility,graphics',
    });
  });

  it('build the GPU worker on CUDA 11.2 with cuDNN 8, what tfjs-node-gpu 4.22 (libtensorflow 2.9.1) is built for', () => {
    const gpu = dockerfile('worker-gpu.Dockerfile');
    const { image } = baseOf(gpu, finalStage(gpu));
    expect(image).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-(runtime|devel)-ubuntu\d+\.\d+$/);
    // Every stage of it, build stage included, is on that same base.
    for (const stage of gpu.stages) expect(baseOf(gpu, stage).image).toBe(image);
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    expect(lock.packages['node_modules/@tensorflow/tfjs-node-gpu']?.version).toBe('4.22.0');
  });

  it('run a Node version that package.json engines allows, the same in every image', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
    const range = pkg.engines?.node;
    expect(range).toBeDefined();
    const versions = new Map([...dockerfiles].map(([name, file]) => [name, nodeVersionOf(file)]));
    for (const [name, version] of versions) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
      expect(satisfies(version, range!), `${name}: Node ${version} against engines "${range}"`).toBe(true);
    }
    expect(new Set(versions.values()).size, JSON.stringify(Object.fromEntries(versions))).toBe(1);
  });

  it('reads engines ranges the way npm does (helper check)', () => {
    expect(satisfies('20.20.2', '>=20.10 <23')).toBe(true);
    expect(satisfies('20.9.0', '>=20.10 <23')).toBe(false);
    expect(satisfies('23.0.0', '>=20.10 <23')).toBe(false);
    expect(satisfies('20.20.2', '^20.19 || ^22.12 || >=24.0')).toBe(true);
    expect(satisfies('20.18.1', '^20.19 || ^22.12 || >=24.0')).toBe(false);
    expect(satisfies('22.1.0', '20 || >=22')).toBe(true);
  });
});

describe('.dockerignore', () => {
  it('keeps host dependencies, generated code, data and git out of the build context', () => {
    const ignored = dockerignorePatterns();
    for (const pattern of ['.git', 'node_modules', 'src/generated', 'data']) expect(ignored).toContain(pattern);
  });
});

describe('docker/compose.yaml', () => {
  it('builds every Trainyard service from a Dockerfile that exists', () => {
    expect(trainyardServices.map(([name]) => name).sort()).toEqual(['api', 'worker-cpu', 'worker-gpu']);
    for (const [name, service] of trainyardServices) {
      const file = buildDockerfile(service);
      expect(existsSync(file), `${name}: ${path.relative(root, file)}`).toBe(true);
      expect(path.resolve(dockerDir, typeof service.build === 'string' ? service.build : (service.build!.context ?? '.')), `${name}: build context`).toBe(path.resolve(root));
    }
    expect(path.basename(buildDockerfile(compose.services.api!))).toBe('api.Dockerfile');
    expect(path.basename(buildDockerfile(compose.services['worker-cpu']!))).toBe('worker-cpu.Dockerfile');
    expect(path.basename(buildDockerfile(compose.services['worker-gpu']!))).toBe('worker-gpu.Dockerfile');
  });

  it('gives PostgreSQL and Redis health checks that every Trainyard service waits for', () => {
    expect(compose.services.postgres?.image).toMatch(/^postgres:15\b/);
    expect(compose.services.redis?.image).toMatch(/^redis:7\b/);
    expect(JSON.stringify(compose.services.postgres?.healthcheck?.test)).toContain('pg_isready');
    expect(JSON.stringify(compose.services.redis?.healthcheck?.test)).toMatch(/redis-cli.*ping/);
    for (const [name, service] of trainyardServices) {
      expect(service.depends_on, name).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
      const env = environmentOf(service);
      expect(new URL(env.DATABASE_URL!).hostname, name).toBe('postgres');
      expect(new URL(env.REDIS_URL!).hostname, name).toBe('redis');
    }
  });

  it('mounts one named volume at /app/data in the API and every worker, where artifacts and uploads live', () => {
    const volumes = new Set<string>();
    for (const [name, service] of trainyardServices) {
      const mount = dataMounts(service).find((candidate) => candidate.target === '/app/data');
      expect(mount, `${name} mounts /app/data`).toBeDefined();
      volumes.add(mount!.source);
      const env = environmentOf(service);
      for (const key of ['ARTIFACT_DIR', 'DATA_DIR']) {
        // Unset means the default (data/…); set, it must stay on the shared volume.
        const value = env[key] ?? (key === 'ARTIFACT_DIR' ? 'data/artifacts' : 'data/datasets');
        expect(path.posix.resolve('/app', value).startsWith('/app/data/'), `${name}: ${key}=${value}`).toBe(true);
      }
    }
    expect(volumes.size).toBe(1);
    const [volume] = volumes;
    expect(volume).not.toMatch(/^[./~]/);
    expect(Object.keys(compose.volumes ?? {})).toContain(volume);
  });

  it('publishes the API on port 3000 with its auth settings', () => {
    const api = compose.services.api!;
    expect((api.ports ?? []).map((port) => (typeof port === 'string' ? port.split(':').at(-1) : String(port.target)))).toContain('3000');
    const env = environmentOf(api);
    expect(env.AUTH_MODE).toBeDefined();
    expect(env.ADMIN_TOKEN).toBeDefined();
  });

  it('starts the GPU worker only with the gpu profile, on an NVIDIA GPU reservation', () => {
    const gpu = compose.services['worker-gpu']!;
    expect(gpu.profiles).toEqual(['gpu']);
    const devices = gpu.deploy?.resources?.reservations?.devices ?? [];
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({ driver: 'nvidia' });
    expect(devices[0]!.capabilities).toContain('gpu');
    for (const [name, service] of services.filter(([candidate]) => candidate !== 'worker-gpu')) expect(service.profiles, name).toBeUndefined();
  });
});
