// A VM on a lab's bridge: a fresh tap in the lab's namespace, QEMU started inside it, and the VM
// stopped when the lab is destroyed (so a failing test cannot leave QEMU running).
import type { Lab } from './netns.ts';
import { startVm, type Vm, type VmOptions } from './qemu.ts';

export async function startLabVm(lab: Lab, options: Omit<VmOptions, 'netns' | 'network'> = {}): Promise<Vm> {
  const tap = await lab.addTap();
  const vm = await startVm({ ...options, netns: lab.netns, network: { kind: 'tap', ifname: tap } });
  lab.defer(() => vm.stop());
  return vm;
}
