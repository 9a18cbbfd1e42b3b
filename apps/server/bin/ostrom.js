#!/usr/bin/env node
// The installed `ostrom` command: the built CLI (pnpm build). From source: pnpm ostrom.
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
