// The shell: loads the session, sends an unauthenticated visitor to the login page when
// netkeepd runs with --auth, marks the current page in the navigation, and hands <main>
// to the page's module. Each page is its own URL (/ui/, /ui/devices/NAME, ...), so links,
// reloads, bookmarks and the back button work as on any web page.
import {load_session, post, session} from './api.js';
import {el, notice, replace} from './dom.js';

const pages = {
  fleet: () => import('./fleet.js'),
  device: () => import('./device.js'),
  search: () => import('./search.js'),
  audit: () => import('./audit.js'),
  status: () => import('./status.js'),
  login: () => import('./login.js'),
};

function page_of(path) {
  if (path === '/ui/' || path === '/ui') return {name: 'fleet'};
  if (path.startsWith('/ui/devices/')) {
    return {name: 'device', device: decodeURIComponent(path.slice('/ui/devices/'.length))};
  }
  const name = path.slice('/ui/'.length);
  return pages[name] ? {name} : {name: 'fleet'};
}

function show_user(s) {
  const who = document.getElementById('who');
  const logout = document.getElementById('logout');
  if (!s.auth_required) {
    replace(who, el('span', {class: 'badge'}, 'no auth'));
    who.title = 'netkeepd runs without --auth: every client may do everything';
    return;
  }
  if (!s.authenticated) return;
  replace(who, s.name, ' ', el('span', {class: 'badge'}, s.role || ''));
  logout.hidden = false;
  logout.addEventListener('click', async () => {
    try {
      await post('/ui/logout');
    } finally {
      location.assign('/ui/login');
    }
  });
}

async function start() {
  const main = document.getElementById('main');
  const page = page_of(location.pathname);
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page.name) a.setAttribute('aria-current', 'page');
  }
  let s;
  try {
    s = await load_session();
  } catch (e) {
    replace(main, notice(`Cannot reach netkeepd: ${e.message}`));
    return;
  }
  if (s.auth_required && !s.authenticated && page.name !== 'login') {
    location.replace(`/ui/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  show_user(session());
  const module = await pages[page.name]();
  replace(main);
  try {
    await module.render(main, page);
  } catch (e) {
    main.append(notice(e.message || String(e)));
    throw e;
  }
}

start();
