// Login: an operator token (read or admin) for a session cookie. The token is POSTed
// once to /ui/login and never stored by the page; the cookie is HttpOnly, so scripts
// (ours or injected) cannot read it.
import {load_session, session} from './api.js';
import {append, el, notice, replace} from './dom.js';

// Only a same-site path under /ui/ may be the target after login (no open redirect).
function next_target() {
  const next = new URLSearchParams(location.search).get('next') || '/ui/';
  return /^\/ui\/[^\\]*$/.test(next) && !next.startsWith('//') ? next : '/ui/';
}

export async function render(main) {
  document.title = 'Log in · netkeep';
  const s = session();
  if (!s.auth_required) {
    append(main, [el('h1', {}, 'Log in'),
                  notice('netkeepd runs without --auth: there is nothing to log in to.', 'info'),
                  el('p', {}, el('a', {href: '/ui/'}, 'Go to the fleet'))]);
    return;
  }
  if (s.authenticated) {
    location.replace(next_target());
    return;
  }
  const message = el('div', {'aria-live': 'assertive'});
  const token = el('input', {type: 'password', name: 'token', id: 'token', required: true,
                             autocomplete: 'current-password', spellcheck: 'false'});
  const form = el('form', {class: 'login', method: 'post', action: '/ui/login'},
    el('label', {for: 'token'}, 'Operator token'), token,
    el('p', {class: 'muted'}, 'A read or admin token from netkeepctl token add. ',
       'It is sent once; the session lives in an HttpOnly cookie.'),
    el('button', {type: 'submit'}, 'Log in'), message);
  append(main, [el('h1', {}, 'Log in'), form]);
  token.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await fetch('/ui/login', {method: 'POST', credentials: 'same-origin',
                                        headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({token: token.value})});
    if (r.ok) {
      token.value = '';
      await load_session();
      location.replace(next_target());
      return;
    }
    let why = `${r.status}`;
    try { why = (await r.json()).error || why; } catch (err) { /* keep the status */ }
    replace(message, notice(r.status === 401 ? 'Unknown or revoked token.' :
                            r.status === 403 ? `Refused: ${why}` : `Login failed: ${why}`));
    token.select();
  });
}
