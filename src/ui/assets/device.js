// Device: its jobs (from /api/v1/tasks?device=), and per job the version timeline (from
// .../versions), the config at a version, the diff between any two versions (pick "from"
// and "to" in the timeline), downloads, and the last failures. The URL keeps the view:
// ?job=J&at=C (a config), ?job=J&from=A&to=B[&split=1] (a diff).
import {ApiError, get_json, get_text, is_admin, job_path, post, task_path, url} from './api.js';
import {append, bytes, clear, device_href, el, notice, replace, short_commit, time_el} from './dom.js';
import {code_table, diff_table} from './diff.js';

const VERSIONS_PAGE = 200;

export async function render(main, page) {
  const device = page.device;
  document.title = `${device} · netkeep`;
  const params = new URLSearchParams(location.search);
  append(main, [el('p', {class: 'crumbs'}, el('a', {href: '/ui/'}, 'Fleet'), ' / ', device),
                el('h1', {}, device)]);
  let tasks;
  try {
    tasks = await get_json('/api/v1/tasks', {device});
  } catch (e) {
    main.append(notice(`Cannot read ${device}'s tasks: ${e.message}`));
    return;
  }
  const jobs = tasks.tasks.map((t) => t.job);
  if (!jobs.length) {
    main.append(notice(`No job runs on device ${device} (is it in the inventory?).`, 'info'));
  }
  const wanted = params.get('job');
  const job = jobs.includes(wanted) ? wanted : jobs[0];
  if (jobs.length > 1) {
    main.append(el('nav', {class: 'tabs', 'aria-label': 'Jobs'}, jobs.map((j) =>
      el('a', {href: device_href(device, {job: j}), 'aria-current': j === job ? 'page' : null}, j))));
  }
  const task = tasks.tasks.find((t) => t.job === job);
  if (task) await render_job(main, device, task, tasks.now, params);
}

async function render_job(main, device, task, now, params) {
  const job = task.job;
  const section = el('section', {class: 'job', 'aria-label': `Job ${job}`});
  main.append(section);
  section.append(el('h2', {}, 'Job ', el('code', {}, job)), job_summary(device, task, now));
  if (task.last_failure) {
    section.append(el('div', {class: 'failure-box', 'data-field': 'last-failure'},
                      el('h3', {}, 'Last failure ', time_el(task.last_failure.at, now)),
                      el('pre', {}, task.last_failure.failure || '')));
  }
  const timeline = el('section', {class: 'timeline', 'aria-label': 'Versions'});
  const viewer = el('section', {class: 'viewer', id: 'viewer', 'aria-live': 'polite'});
  const failures = el('section', {class: 'failures'});
  section.append(el('h3', {}, 'Versions'), timeline, viewer, failures);
  const ctx = {device, job, now, timeline, viewer, versions: [], next_before: null,
               from: params.get('from'), to: params.get('to'), at: params.get('at'),
               split: params.get('split') === '1'};
  await load_versions(ctx);
  // ?seq=N (from the audit page): the version that completion made.
  const by_seq = ctx.versions.find((v) => String(v.seq) === params.get('seq'));
  if (by_seq) show_config(ctx, by_seq.commit);
  else if (params.get('from') && params.get('to')) show_diff(ctx);
  else if (ctx.at) show_config(ctx, ctx.at);
  recent_failures(failures, device, job, now);
}

function job_summary(device, t, now) {
  // Label above value, pairs in a wrapping grid: the summary takes two rows, not six.
  const pair = (label, ...value) => el('div', {}, el('dt', {}, label), el('dd', {}, value));
  const dl = el('dl', {class: 'summary grid'},
    pair('Status', el('span', {class: `badge status-${t.status}`, 'data-field': 'status'}, t.status)),
    pair('Last success', t.last_success ? time_el(t.last_success.at, now) : 'never'),
    pair('Next due', time_el(t.next_due, now)),
    pair('Lease', t.lease ? `${t.lease.worker} (attempt ${t.lease.attempt})` : '—'),
    pair('Group', t.group || '—'),
    pair('Tags', (t.tags || []).length ? t.tags.map((tag) => el('span', {class: 'tag'}, tag)) : '—'));
  if (!is_admin()) return dl;
  const out = el('span', {'aria-live': 'polite'});
  const button = el('button', {type: 'button', 'data-action': 'run', onclick: async () => {
    button.disabled = true;
    try {
      const r = await post(`${task_path(device, t.job)}/run`);
      replace(out, r.changed ? ` Requested: now ${r.status}.` : ` ${r.message}`);
    } catch (e) {
      replace(out, notice(e.message));
    } finally {
      button.disabled = false;
    }
  }}, 'Run now');
  return el('div', {class: 'summary-wrap'}, dl, el('p', {}, button, out));
}

// Versions newest first. A server older than the versions route (404 "no route") still
// has /history: the same list without size and worker.
async function fetch_versions(ctx) {
  const path = `${job_path(ctx.device, ctx.job)}/versions`;
  try {
    return await get_json(path, {limit: VERSIONS_PAGE, before: ctx.next_before});
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404 || !/no route/.test(e.message)) throw e;
    const h = await get_json(`/api/v1/devices/${encodeURIComponent(ctx.device)}/history`);
    const j = h.jobs.find((x) => x.job === ctx.job);
    const versions = j ? j.versions : [];
    return {versions, total: versions.length, next_before: null};
  }
}

async function load_versions(ctx) {
  let answer;
  try {
    answer = await fetch_versions(ctx);
  } catch (e) {
    replace(ctx.timeline, notice(`Cannot list versions: ${e.message}`));
    return;
  }
  ctx.versions.push(...answer.versions);
  ctx.total = answer.total;
  ctx.next_before = answer.next_before;
  if (ctx.versions.length >= 2) {
    ctx.to = ctx.to || ctx.versions[0].commit;
    ctx.from = ctx.from || ctx.versions[1].commit;
  }
  render_timeline(ctx);
}

function render_timeline(ctx) {
  const v = ctx.versions;
  if (!v.length) {
    replace(ctx.timeline, el('p', {class: 'muted'}, 'No version yet: the first successful backup makes one.'));
    return;
  }
  const radio = (name, commit, label) => el('input', {type: 'radio', name, value: commit,
    checked: (name === 'from' ? ctx.from : ctx.to) === commit, 'aria-label': `${label} ${short_commit(commit)}`,
    onchange: () => { ctx[name] = commit; }});
  const rows = v.map((ver, i) => el('tr', {'data-commit': ver.commit},
    el('td', {class: 'pick', 'data-label': 'From'}, radio('from', ver.commit, 'Diff from')),
    el('td', {class: 'pick', 'data-label': 'To'}, radio('to', ver.commit, 'Diff to')),
    el('td', {'data-label': 'Time'}, time_el(ver.time, ctx.now)),
    el('td', {'data-label': 'Commit'}, el('code', {title: ver.commit}, short_commit(ver.commit)),
       i === 0 ? el('span', {class: 'badge'}, 'newest') : null),
    el('td', {'data-label': 'Size', class: 'num'}, bytes(ver.size)),
    el('td', {'data-label': 'Worker'}, ver.worker || '—'),
    el('td', {'data-label': ''},
       el('button', {type: 'button', class: 'secondary', 'data-action': 'view',
                     onclick: () => show_config(ctx, ver.commit)}, 'View'), ' ',
       el('a', {href: url(`${job_path(ctx.device, ctx.job)}/config`, {at: ver.commit, download: 1}),
                download: '', 'data-action': 'download'}, 'Download'))));
  const table = el('table', {class: 'versions'},
    el('thead', {}, el('tr', {}, ['From', 'To', 'Time', 'Commit', 'Size', 'Worker', ''].map(
      (h) => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, rows));
  const compare = el('button', {type: 'button', 'data-action': 'compare', disabled: v.length < 2,
                                onclick: () => show_diff(ctx)}, 'Compare from → to');
  const more = ctx.next_before ? el('button', {type: 'button', class: 'secondary',
    onclick: () => load_versions(ctx)}, 'Older versions') : null;
  replace(ctx.timeline, el('p', {class: 'muted'}, `${v.length} of ${ctx.total} versions shown.`),
          el('div', {class: 'table-wrap'}, table), el('p', {class: 'actions'}, compare, ' ', more));
}

function set_url(ctx, extra) {
  const p = new URLSearchParams({job: ctx.job, ...extra});
  history.replaceState(null, '', `${device_href(ctx.device)}?${p}`);
}

async function show_config(ctx, commit) {
  set_url(ctx, {at: commit});
  replace(ctx.viewer, el('p', {class: 'loading'}, 'Loading…'));
  let text;
  try {
    text = await get_text(`${job_path(ctx.device, ctx.job)}/config`, {at: commit});
  } catch (e) {
    replace(ctx.viewer, notice(`Cannot read the config at ${short_commit(commit)}: ${e.message}`));
    return;
  }
  replace(ctx.viewer,
          el('h3', {}, 'Config at ', el('code', {title: commit}, short_commit(commit)), ' ',
             el('a', {href: url(`${job_path(ctx.device, ctx.job)}/config`, {at: commit, download: 1}),
                      download: ''}, 'Download')),
          el('div', {class: 'code-wrap'}, code_table(text)));
  ctx.viewer.scrollIntoView({block: 'start'});
}

async function show_diff(ctx) {
  if (!ctx.from || !ctx.to) return;
  set_url(ctx, {from: ctx.from, to: ctx.to, ...(ctx.split ? {split: 1} : {})});
  replace(ctx.viewer, el('p', {class: 'loading'}, 'Loading…'));
  let diff;
  try {
    diff = await get_json(`${job_path(ctx.device, ctx.job)}/diff`,
                          {from: ctx.from, to: ctx.to, format: 'json', context: 3});
  } catch (e) {
    replace(ctx.viewer, notice(`Cannot diff: ${e.message}`));
    return;
  }
  const body = el('div', {class: 'code-wrap'});
  const draw = () => replace(body, diff.hunks.length ? diff_table(diff, ctx.split)
                                                     : el('p', {class: 'muted'}, 'The two versions are identical.'));
  const toggle = el('button', {type: 'button', class: 'secondary', 'data-action': 'split',
                               'aria-pressed': String(ctx.split), onclick: () => {
                                 ctx.split = !ctx.split;
                                 toggle.setAttribute('aria-pressed', String(ctx.split));
                                 toggle.textContent = ctx.split ? 'Unified' : 'Side by side';
                                 set_url(ctx, {from: ctx.from, to: ctx.to, ...(ctx.split ? {split: 1} : {})});
                                 draw();
                               }}, ctx.split ? 'Unified' : 'Side by side');
  replace(ctx.viewer,
          el('h3', {}, 'Diff ', el('code', {title: ctx.from}, short_commit(ctx.from)), ' → ',
             el('code', {title: ctx.to}, short_commit(ctx.to))),
          el('p', {class: 'diff-meta'},
             el('span', {class: 'added'}, `+${diff.added}`), ' ', el('span', {class: 'removed'}, `−${diff.removed}`),
             ' ', time_el(diff.from && diff.from.time), ' → ', time_el(diff.to && diff.to.time), ' ', toggle),
          diff.binary ? notice('Binary content: no line diff.', 'info') : null,
          diff.truncated ? notice('The diff is longer than the server shows; download both versions for all of it.', 'info') : null,
          body);
  draw();
  ctx.viewer.scrollIntoView({block: 'start'});
}

// The device's recent failed attempts from the event log (newest first). Optional: an
// older server without event filters shows only the last failure above.
async function recent_failures(box, device, job, now) {
  let answer;
  try {
    answer = await get_json('/api/v1/events', {tail: 1, device, type: ['CompletionRecorded', 'LeaseExpired'], limit: 200});
  } catch (e) {
    return;
  }
  const failed = answer.events.filter((e) => e.job === job &&
    (e.type === 'LeaseExpired' || (e.type === 'CompletionRecorded' && e.failure !== null && e.failure !== undefined)));
  if (!failed.length) return;
  replace(box, el('h3', {}, 'Recent failures'),
          el('ul', {class: 'failure-list'}, failed.slice(0, 20).map((e) =>
            el('li', {}, time_el(e.at, now), ' ', e.worker ? el('span', {class: 'muted'}, e.worker, ': ') : null,
               el('span', {class: 'failure-text-full'}, e.type === 'LeaseExpired' ? 'lease expired' : e.failure)))));
}
