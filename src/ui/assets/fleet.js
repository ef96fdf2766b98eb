// Fleet: every task, one server-side page at a time (limit + keyset cursor), sorted and
// filtered by the server, so the page costs the same at 100 tasks and at 100,000. The
// state lives in the URL (?q=&tag=&group=&status=&sort=&order=&limit=&cursor=): a view
// can be bookmarked and reloaded.
import {ApiError, get_json, is_admin, post, task_path} from './api.js';
import {ago, append, clear, device_href, el, notice, replace, short_commit, time_el} from './dom.js';

const STATUSES = ['due', 'scheduled', 'leased', 'retrying'];
const LIMITS = [50, 100, 200, 500, 1000];
const REFRESH_MS = 30000;

// [column id, header, sort key or null]
const COLUMNS = [
  ['device', 'Device', 'device'], ['job', 'Job', 'job'], ['tags', 'Tags', null],
  ['group', 'Group', null], ['status', 'Status', 'status'],
  ['last_success', 'Last success', 'last_success'], ['last_change', 'Last change', 'last_change'],
  ['last_failure', 'Last failure', 'last_failure'], ['next_due', 'Next due', 'next_due'],
  ['lease', 'Lease', null],
];

function read_state() {
  const p = new URLSearchParams(location.search);
  const limit = Number(p.get('limit'));
  return {
    q: p.get('q') || '', tag: p.get('tag') || '', group: p.get('group') || '',
    status: STATUSES.includes(p.get('status')) ? p.get('status') : '',
    sort: p.get('sort') || 'device', order: p.get('order') === 'desc' ? 'desc' : 'asc',
    // Any 1..1000 from the URL (the API's range); the menu offers the usual sizes.
    limit: Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : 100,
    cursor: p.get('cursor') || '',
  };
}

function write_state(state) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) {
    if (v === '' || (k === 'sort' && v === 'device') || (k === 'order' && v === 'asc') ||
        (k === 'limit' && v === 100)) continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  history.replaceState(null, '', s ? `/ui/?${s}` : '/ui/');
}

export function is_failing(t) {
  return Boolean(t.last_failure) && (!t.last_success || t.last_failure.seq > t.last_success.seq);
}

export async function render(main) {
  const state = read_state();
  const view = {state, cursors: [], busy: null, main};
  const counts = el('div', {class: 'counts', role: 'group', 'aria-label': 'Tasks by status'});
  const form = filter_form(view);
  const pager = el('div', {class: 'pager'});
  const message = el('div', {'aria-live': 'polite'});
  const table_wrap = el('div', {class: 'table-wrap'});
  Object.assign(view, {counts, pager, message, table_wrap});
  append(main, [el('h1', {}, 'Fleet'), counts, form, message, pager, table_wrap]);
  await load(view);
  setInterval(() => {
    // Reload quietly unless the user is working in the table or the tab is hidden.
    if (document.hidden || table_wrap.contains(document.activeElement)) return;
    load(view).catch(() => {});
  }, REFRESH_MS);
}

function filter_form(view) {
  const s = view.state;
  const field = (name, label, value, hint) =>
    el('label', {class: 'field'}, el('span', {}, label),
       el('input', {name, type: 'search', value, placeholder: hint, autocomplete: 'off',
                    spellcheck: 'false', maxlength: 256}));
  const sizes = LIMITS.includes(s.limit) ? LIMITS : [s.limit, ...LIMITS].sort((x, y) => x - y);
  const limit = el('select', {name: 'limit'},
                   sizes.map((n) => el('option', {value: n, selected: n === s.limit}, String(n))));
  const form = el('form', {class: 'filters', role: 'search'},
                  field('q', 'Name contains', s.q, 'e.g. core'),
                  field('tag', 'Tag', s.tag, 'exact tag'),
                  field('group', 'Group', s.group, 'exact group'),
                  el('label', {class: 'field'}, el('span', {}, 'Per page'), limit),
                  el('div', {class: 'actions'},
                     el('button', {type: 'submit'}, 'Filter'),
                     el('button', {type: 'reset', class: 'secondary'}, 'Clear')));
  const apply = () => {
    const data = new FormData(form);
    Object.assign(view.state, {q: data.get('q').trim(), tag: data.get('tag').trim(),
                               group: data.get('group').trim(), limit: Number(data.get('limit')),
                               cursor: ''});
    view.cursors = [];
    load(view);
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  form.addEventListener('reset', () => {
    setTimeout(() => {
      for (const input of form.querySelectorAll('input')) input.value = '';
      view.state.status = '';
      apply();
    });
  });
  let timer = null;
  form.elements.q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(apply, 350); });
  limit.addEventListener('change', apply);
  return form;
}

function query_of(state) {
  return {q: state.q, tag: state.tag, group: state.group, status: state.status, sort: state.sort,
          order: state.order, limit: state.limit, cursor: state.cursor};
}

async function load(view) {
  if (view.busy) view.busy.abort();
  const busy = new AbortController();
  view.busy = busy;
  view.table_wrap.setAttribute('aria-busy', 'true');
  write_state(view.state);
  let answer;
  try {
    answer = await get_json('/api/v1/tasks', query_of(view.state), {signal: busy.signal});
  } catch (e) {
    if (e.name === 'AbortError') return;
    replace(view.message, notice(`Cannot list tasks: ${e.message}`));
    view.table_wrap.removeAttribute('aria-busy');
    return;
  }
  if (view.busy !== busy) return;
  view.busy = null;
  clear(view.message);
  render_counts(view, answer);
  render_pager(view, answer);
  replace(view.table_wrap, task_table(view, answer));
  view.table_wrap.removeAttribute('aria-busy');
}

function render_counts(view, answer) {
  const c = answer.counts || {};
  const all = STATUSES.reduce((n, s) => n + (c[s] || 0), 0);
  const button = (status, label, n) =>
    el('button', {type: 'button', class: `count status-${status || 'all'}`,
                  'aria-pressed': String(view.state.status === status),
                  'data-status': status || 'all',
                  onclick: () => {
                    view.state.status = status;
                    view.state.cursor = '';
                    view.cursors = [];
                    load(view);
                  }},
       el('span', {class: 'n'}, String(n)), ' ', label);
  // "failing" is not a status (a failing task is also due, retrying or scheduled): its
  // button sorts the newest failures first instead of filtering.
  const failing = el('button', {type: 'button', class: 'count status-failing',
                                'data-status': 'failing',
                                title: 'Tasks whose last attempt failed: newest failures first',
                                onclick: () => {
                                  Object.assign(view.state, {sort: 'last_failure', order: 'desc',
                                                             cursor: ''});
                                  view.cursors = [];
                                  load(view);
                                }},
                     el('span', {class: 'n'}, String(c.failing || 0)), ' failing');
  replace(view.counts, button('', 'all', all), STATUSES.map((s) => button(s, s, c[s] || 0)),
          failing);
}

function render_pager(view, answer) {
  const first = view.cursors.length * view.state.limit;
  const shown = answer.tasks.length;
  const go = (cursor, stack) => () => {
    view.cursors = stack;
    view.state.cursor = cursor;
    load(view);
  };
  const prev_stack = view.cursors.slice(0, -1);
  const prev_cursor = view.cursors.length ? view.cursors[view.cursors.length - 1] : '';
  // Opened at a cursor (a bookmark, a reload): the rows before it are not counted here.
  const range = !shown ? `No tasks of ${answer.total}`
    : view.state.cursor && !view.cursors.length ? `${shown} tasks of ${answer.total}`
    : `Tasks ${first + 1}–${first + shown} of ${answer.total}`;
  replace(view.pager,
          el('span', {class: 'range'}, range),
          el('button', {type: 'button', class: 'secondary', disabled: !view.state.cursor,
                        'data-action': 'first', onclick: go('', [])}, 'First'),
          el('button', {type: 'button', class: 'secondary', disabled: !view.state.cursor,
                        'data-action': 'prev', onclick: go(prev_cursor, prev_stack)}, '‹ Previous'),
          el('button', {type: 'button', class: 'secondary', disabled: !answer.next_cursor,
                        'data-action': 'next',
                        onclick: go(answer.next_cursor, [...view.cursors, view.state.cursor])},
             'Next ›'));
}

function header_cell(view, [id, label, key]) {
  if (!key) return el('th', {scope: 'col'}, label);
  const active = view.state.sort === key;
  const order = active ? view.state.order : null;
  return el('th', {scope: 'col', 'aria-sort': active ? (order === 'asc' ? 'ascending' : 'descending') : 'none'},
            el('button', {type: 'button', class: 'sort', 'data-sort': key,
                          title: `Sort by ${label.toLowerCase()}`,
                          onclick: () => {
                            view.state.order = active && order === 'asc' ? 'desc' : 'asc';
                            view.state.sort = key;
                            view.state.cursor = '';
                            view.cursors = [];
                            load(view);
                          }},
               label, el('span', {class: 'arrow', 'aria-hidden': 'true'},
                         active ? (order === 'asc' ? ' ▲' : ' ▼') : '')));
}

function task_table(view, answer) {
  const admin = is_admin();
  const head = el('tr', {}, COLUMNS.map((c) => header_cell(view, c)),
                  admin ? el('th', {scope: 'col'}, el('span', {class: 'sr-only'}, 'Actions')) : null);
  const rows = answer.tasks.map((t) => task_row(view, t, answer.now, admin));
  if (!rows.length) {
    rows.push(el('tr', {}, el('td', {colspan: COLUMNS.length + (admin ? 1 : 0), class: 'empty'},
                              'No task matches these filters.')));
  }
  return el('table', {class: 'fleet'}, el('thead', {}, head), el('tbody', {}, rows));
}

function cell(label, ...children) { return el('td', {'data-label': label}, children); }

function task_row(view, t, now, admin) {
  const failing = is_failing(t);
  const status = el('span', {class: `badge status-${t.status}`, 'data-field': 'status'}, t.status);
  const row = el('tr', {class: failing ? 'failing' : null, 'data-device': t.device, 'data-job': t.job},
    el('th', {scope: 'row', 'data-label': 'Device'},
       el('a', {href: device_href(t.device, {job: t.job})}, t.device)),
    cell('Job', t.job),
    cell('Tags', (t.tags || []).map((tag) => el('span', {class: 'tag'}, tag))),
    cell('Group', t.group || ''),
    cell('Status', status, failing ? el('span', {class: 'badge failing'}, 'failing') : null,
         t.failed_attempts ? el('span', {class: 'muted'}, ` ${t.failed_attempts}/${t.max_attempts}`) : null),
    cell('Last success', t.last_success ? time_el(t.last_success.at, now, true) : el('span', {class: 'muted'}, 'never')),
    cell('Last change', t.last_change ? el('span', {class: 'change-cell'},
         el('a', {href: device_href(t.device, {job: t.job, at: t.last_change.commit}),
                  class: 'commit', title: t.last_change.commit},
            short_commit(t.last_change.commit).slice(0, 8)),
         el('span', {class: 'rel'}, ' ', ago(t.last_change.time, now))) :
         el('span', {class: 'muted'}, '—')),
    cell('Last failure', t.last_failure ?
         el('div', {class: 'failure-cell'},
            el('span', {class: 'failure-text', title: t.last_failure.failure || ''}, t.last_failure.failure || ''),
            el('span', {class: 'rel'}, ago(t.last_failure.at, now))) : ''),
    cell('Next due', time_el(t.next_due, now, true)),
    cell('Lease', t.lease ? el('span', {title: `until ${new Date(t.lease.deadline * 1000).toISOString()}`},
                               t.lease.worker) : ''),
    admin ? cell('', run_button(view, t, status)) : null);
  return row;
}

function run_button(view, t, status) {
  const button = el('button', {type: 'button', class: 'run', 'data-action': 'run',
                               'aria-label': `Run ${t.device} ${t.job} now`});
  append(button, ['Run now']);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const r = await post(`${task_path(t.device, t.job)}/run`);
      status.textContent = r.status;
      status.className = `badge status-${r.status}`;
      replace(view.message, notice(r.changed ? `${t.device}/${t.job}: run requested, now ${r.status}.`
                                              : `${t.device}/${t.job}: ${r.message}`, 'info'));
    } catch (e) {
      const why = e instanceof ApiError ? e.message : String(e);
      replace(view.message, notice(`${t.device}/${t.job}: ${why}`));
    } finally {
      button.disabled = false;
    }
    // The worker leases it within its poll interval: show that without a manual reload.
    setTimeout(() => load(view), 2000);
  });
  return button;
}
