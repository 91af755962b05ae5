// Small pieces every screen uses.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { shortName } from './model.ts';

export function ProgressBar({ percent, label }: { percent: number | null; label: string }) {
  const p = percent ?? 0;
  return (
    <div class="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent ?? undefined} data-percent={percent ?? ''}>
      <div class="bar-fill" style={{ width: `${p}%` }} />
      <span class="bar-text">{percent === null ? 'waiting' : `${Math.round(p)}%`}</span>
    </div>
  );
}

const STATE_CLASS: Record<string, string> = { succeeded: 'ok', failed: 'bad', exhausted: 'bad', cancelled: 'muted', running: 'busy', booting: 'busy' };

export function JobState({ state, productId }: { state: string; productId?: string }) {
  return (
    <span class={`badge ${STATE_CLASS[state] ?? 'muted'}`}>
      {productId ? `${shortName(productId)} ` : ''}
      {state}
    </span>
  );
}

export function ErrorBox({ error, onClose }: { error: string | null; onClose?: () => void }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <span>{error}</span>
      {onClose && (
        <button class="link" onClick={onClose} aria-label="dismiss">
          ✕
        </button>
      )}
    </div>
  );
}

/** A modal dialog (the browser's own <dialog>: focus stays inside, Esc closes). */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const closed = () => onClose();
    d?.addEventListener('close', closed);
    return () => d?.removeEventListener('close', closed);
  }, []);
  return (
    <dialog ref={ref} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </dialog>
  );
}
