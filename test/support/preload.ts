// Loaded before every test file (bunfig.toml): stops the harness's servers at
// the end of the run, whatever happened.
import { afterAll } from 'bun:test'
import { shutdownInfra } from './infra'

afterAll(async () => {
  await shutdownInfra()
})
