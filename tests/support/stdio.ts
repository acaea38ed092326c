/**
 * How far a child process has got through its standard streams, seen from outside: Node gives a
 * child spawned with stdio 'pipe' a UNIX socket pair, and `ss -xa` (iproute2) shows the bytes
 * waiting in each socket's receive queue. For waiting until a child has read what it was sent, or
 * has written output that is not read yet, instead of sleeping a fixed time.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';

let ssChecked: boolean | undefined;

/** True when `ss` (Debian package iproute2) runs here and lists UNIX sockets. */
export function haveSs(): boolean {
  ssChecked ??= spawnSync('ss', ['-xaH'], { stdio: 'ignore' }).status === 0;
  return ssChecked;
}

/**
 * Bytes in the socket pair behind a child's standard stream `fd` (0, 1 or 2) that the reading side
 * has not read yet: the receive queues of both ends (for stdin the child's, for stdout and stderr
 * this process's). Undefined when the process, its descriptor or the socket is gone, or `fd` is
 * not a socket.
 */
export function unreadBytes(pid: number, fd: number): number | undefined {
  let inode: string;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
    if (!m) return undefined;
    inode = m[1]!;
  } catch {
    return undefined;
  }
  const ss = spawnSync('ss', ['-xaH'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (ss.status !== 0) return undefined;
  let found = false;
  let queued = 0;
  for (const line of ss.stdout.split('\n')) {
    // Netid State Recv-Q Send-Q Local-Address Local-Port Peer-Address Peer-Port; an unnamed
    // socket's address is "*" and its port its inode.
    const f = line.trim().split(/\s+/);
    if (f[5] === inode || f[7] === inode) {
      found = true;
      queued += Number(f[2]);
    }
  }
  return found ? queued : undefined;
}
