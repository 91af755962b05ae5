// MACs and SMBIOS UUIDs that cannot tell one PC from another. Firmware without a UUID of its own
// reports all zeros or all ones (SMBIOS 2.6: "not present" / "not settable"), so many PCs of a room
// share it; a placeholder MAC (all zeros, broadcast, any multicast address) is no NIC's. Registered
// as a PC's identity, such a value would hand that PC's pending job, a restore that wipes the
// disk, to whichever PC boots with the same placeholder. Pure.

const PLACEHOLDER_UUIDS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']);

/** A normalised (lower-case) SMBIOS UUID that firmware reports when it has none. */
export function isPlaceholderUuid(uuid: string): boolean {
  return PLACEHOLDER_UUIDS.has(uuid.toLowerCase());
}

/** A normalised MAC (aa:bb:cc:dd:ee:ff) that no network card has: all zeros, or the group bit set (multicast, broadcast). */
export function isUnusableMac(mac: string): boolean {
  const first = Number.parseInt(mac.slice(0, 2), 16);
  return mac === '00:00:00:00:00:00' || (first & 1) === 1;
}

export const PLACEHOLDER_UUID_MESSAGE = 'is the placeholder firmware reports when it has no UUID of its own (many PCs share it): register the PC by its MAC';
export const UNUSABLE_MAC_MESSAGE = 'is no network card\'s address (all zeros, broadcast or multicast): give the MAC of the PC\'s network card';
