import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { prepareFlow, PREPARE_DEFAULTS } from '../flows.ts';
import { flowContext, type FlowOverrides, propBool, propString } from './props.ts';
import { ProductId } from '../../lib/products.ts';
import { reportImages } from './common.ts';

/** OS products whose system partition is ext4 (everything else gets NTFS). */
export function osFamilyFor(productId: string): 'windows' | 'linux' {
  return /ubuntu|debian|linux|mint|suse|fedora|rhel|centos|alma|rocky/i.test(productId) ? 'linux' : 'windows';
}

export function makePrepareProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.prepare,
    run: async (ctx) => {
      const job = ctx.job;
      const startOs = propString(job, 'start_os_installation').trim();
      const explicit = propString(job, 'os_family').trim();
      const osFamily = explicit === 'linux' || explicit === 'windows' ? explicit : osFamilyFor(startOs);
      ctx.progress(1, 'partitioning');
      const result = await prepareFlow(flowContext(ctx, { from: 1, to: 90 }, overrides), {
        firmware: ctx.firmware,
        osFamily,
        systemPartitionSize: propString(job, 'system_partition_size', PREPARE_DEFAULTS.systemPartitionSize),
        dataPartitionSize: propString(job, 'data_partition_size', PREPARE_DEFAULTS.dataPartitionSize),
        winpePartitionSize: propString(job, 'winpe_partition_size', PREPARE_DEFAULTS.winpePartitionSize),
        minimalBackupPartitionSize: propString(job, 'minimal_backup_partition_size', PREPARE_DEFAULTS.minimalBackupPartitionSize),
        multiDiskMode: propString(job, 'multi_disk_mode', PREPARE_DEFAULTS.multiDiskMode),
        backupPartitionOnSameDisk: propBool(job, 'backup_partition_on_same_disk', PREPARE_DEFAULTS.backupPartitionOnSameDisk),
      });
      // The old images are gone with the old partitions.
      await reportImages(ctx, '', []);
      if (startOs) {
        await ctx.server.setActionRequests([{ productId: startOs, actionRequest: 'setup' }]);
        ctx.log(`${startOs} set to setup`);
      }
      ctx.log(`prepared: system ${result.systemDevice}, backup ${result.backupDevice}`);
      ctx.progress(100, 'prepared');
    },
  };
}

export const prepareProduct = makePrepareProduct();
