/** A command line the CLI cannot run: one line of why, the pointer to --help, exit status 2. */
export class UsageError extends Error {}
