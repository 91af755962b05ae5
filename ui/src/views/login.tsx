// Sign in: a user account (session cookie), or the admin token the server printed at first start.
import { useState } from 'preact/hooks';
import { api, type Auth } from '../api.ts';
import { ErrorBox } from '../widgets.tsx';

export function LoginView({ onSignedIn, notice = null }: { onSignedIn: (a: Auth) => void; notice?: string | null }) {
  const [mode, setMode] = useState<'user' | 'token'>('user');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      onSignedIn(mode === 'user' ? await api.signIn(String(form.get('username')), String(form.get('password'))) : await api.signInWithToken(String(form.get('token'))));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>netimage</h1>
      <form onSubmit={submit} class="card">
        {notice && (
          <p class="session-ended" role="status">
            {notice}
          </p>
        )}
        {mode === 'user' ? (
          <>
            <label>
              User name
              <input name="username" autocomplete="username" required />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
          </>
        ) : (
          <label>
            Admin token
            <input name="token" type="password" autocomplete="off" placeholder="ni_…" required />
          </label>
        )}
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <button type="button" class="link" onClick={() => (setMode(mode === 'user' ? 'token' : 'user'), setError(null))}>
          {mode === 'user' ? 'Use the admin token instead' : 'Use a user account instead'}
        </button>
      </form>
    </main>
  );
}
