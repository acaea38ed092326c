/** Ending the servers tests start (dnsmasq, freeradius) without leaving them behind. */
import type { ChildProcess } from 'node:child_process';

/** Stop a child process: SIGTERM, then SIGKILL if it has not exited within 5 s; resolves once it has. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
