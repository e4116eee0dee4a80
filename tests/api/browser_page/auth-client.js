// auth-client.js: a small client for the authd API, as a browser app uses it.
// The session lives in an HttpOnly cookie that the browser stores and sends by itself
// (credentials: 'include'); the page never sees or stores the token.
export class ApiError extends Error {
  constructor(status, message, { fields = {}, retryAfter = null, csrf = false } = {}) {
    super(message);
    this.status = status;
    this.fields = fields;         // { email: '...', password: '...' } for 422
    this.retryAfter = retryAfter; // seconds to wait (429, 503)
    this.csrf = csrf;             // 403 from the origin check: a deployment error, not "unverified"
  }
}

const wait = (s) => (s < 90 ? `${s} seconds` : `${Math.ceil(s / 60)} minutes`);

export function createAuthClient(apiBase) {
  async function call(path, { method = 'POST', body } = {}) {
    let res;
    try {
      res = await fetch(`${apiBase}/api/auth${path}`, {
        method,
        credentials: 'include', // send and receive the session cookie
        headers: body ? { 'Content-Type': 'application/json' } : undefined,
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      // Offline, or an origin the API does not allow (CORS): nothing can be read.
      throw new ApiError(0, 'Cannot reach the server. Check your connection.');
    }
    const data = await res.json().catch(() => null);
    if (res.ok) return data;

    const detail = data?.detail;
    if (Array.isArray(detail)) {
      // 422: one entry per invalid field (a refused password too); loc is ["body", field] or ["body"]
      const fields = {};
      for (const e of detail) fields[e.loc.length > 1 ? e.loc[e.loc.length - 1] : '_form'] = e.msg;
      throw new ApiError(422, detail.map((e) => e.msg).join('\n'), { fields });
    }
    const message = typeof detail === 'string' ? detail : 'Something went wrong.';
    if (res.status === 429 || res.status === 503) {
      const retryAfter = Number(res.headers.get('Retry-After')) || null;
      const text = retryAfter ? `${message} Try again in ${wait(retryAfter)}.` : message;
      throw new ApiError(res.status, text, { retryAfter });
    }
    if (res.status === 403 && message.startsWith('Cross-site request refused')) {
      throw new ApiError(403, 'This site is not allowed to call the API.', { csrf: true });
    }
    throw new ApiError(res.status, message);
  }

  return {
    register: (name, email, password) => call('/register', { body: { name, email, password } }),
    verifyEmail: (email, otp) => call('/verify-email', { body: { email, otp } }),
    resendVerification: (email) => call('/resend-verification-otp', { body: { email } }),
    login: (email, password) => call('/login', { body: { email, password } }),
    logout: () => call('/logout'),
    forgotPassword: (email) => call('/forgot-password', { body: { email } }),
    resetPassword: (email, otp, newPassword) =>
      call('/reset-password', { body: { email, otp, new_password: newPassword } }),
    // Account settings (signed in). Those taking a password check it first: 400 when wrong.
    // With two-factor login on, the changes also take `factor`: { code } or { recovery_code }.
    changePassword: (currentPassword, newPassword, factor = {}) =>
      call('/change-password', {
        body: { current_password: currentPassword, new_password: newPassword, ...factor },
      }),
    sessions: () => call('/sessions', { method: 'GET' }),
    endSession: (id) => call(`/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    logoutOthers: () => call('/logout-others'),
    logoutAll: () => call('/logout-all'),
    changeEmail: (newEmail, password, factor = {}) =>
      call('/change-email', { body: { new_email: newEmail, password, ...factor } }),
    confirmEmailChange: (otp) => call('/confirm-email-change', { body: { otp } }),
    deleteAccount: (password, factor = {}) =>
      call('/delete-account', { body: { password, ...factor } }),
    // Two-factor login. With it on, login() answers { mfa_required: true, mfa_token } and no
    // session: finish with verifyMfa(mfa_token, { code }) or (..., { recovery_code }).
    verifyMfa: (mfaToken, factor) =>
      call('/mfa/verify', { body: { mfa_token: mfaToken, ...factor } }),
    setupTotp: (password) => call('/mfa/totp/setup', { body: { password } }),
    enableTotp: (code) => call('/mfa/totp/enable', { body: { code } }),
    disableTotp: (password, factor) =>
      call('/mfa/totp/disable', { body: { password, ...factor } }),
    newRecoveryCodes: (password, factor) =>
      call('/mfa/recovery-codes', { body: { password, ...factor } }),
    /** The signed-in user, or null when there is no session. */
    async me() {
      try {
        return await call('/me', { method: 'GET' });
      } catch (e) {
        if (e.status === 401) return null;
        throw e;
      }
    },
  };
}
