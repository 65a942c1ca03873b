// School administration (§10): users (deactivate, reset codes, teachers),
// student export and erasure with a confirmation step, the audit log.
import { h, set, page, field, errorBox, showError, table, when, saveBlob } from './ui.js';
import * as api from './api.js';

export async function usersView() {
  const role = h('select', {}, [['', 'Any role'], ['admin', 'Admins'], ['teacher', 'Teachers'], ['student', 'Students']].map(([v, l]) => h('option', { value: v }, l)));
  const q = h('input', { type: 'search' });
  const out = h('div', {});
  const msg = h('p', { class: 'notice', role: 'status' });
  const err = errorBox();
  const me = api.auth.user();

  async function load() {
    err.textContent = '';
    try {
      const params = new URLSearchParams();
      if (role.value) params.set('role', role.value);
      if (q.value) params.set('q', q.value);
      const users = await api.all(`/users?${params}`);
      set(out, table(['Name', 'Email', 'Role', 'Active', 'Actions'], users.map((u) => [u.name, u.email, u.role, u.active === false ? 'no' : 'yes', actions(u)])));
    } catch (x) { showError(err, x); set(out); }
  }
  function actions(u) {
    const box = h('span', { class: 'row' });
    const act = u.active === false;
    if (u.id !== me.id) {
      box.append(h('button', { type: 'button', class: act ? '' : 'secondary', onclick: async () => {
        try { await api.patch(`/users/${encodeURIComponent(u.id)}`, { active: act }); msg.textContent = `${u.name} ${act ? 'reactivated' : 'deactivated'}.`; await load(); } catch (x) { showError(err, x); }
      } }, act ? `Reactivate ${u.name}` : `Deactivate ${u.name}`));
    }
    box.append(h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        const r = await api.post(`/users/${encodeURIComponent(u.id)}/password-reset`, {});
        msg.textContent = `Reset code for ${u.name}: ${r.reset_code} (shown once; valid ${Math.round(r.expires_in / 3600)} h).`;
      } catch (x) { showError(err, x); }
    } }, `Reset code for ${u.name}`));
    if (u.role === 'student') {
      box.append(h('button', { type: 'button', class: 'secondary', onclick: async () => {
        try { saveBlob(await api.request('GET', `/students/${encodeURIComponent(u.id)}/export`, { blob: true }), `student-${u.id}.json`); } catch (x) { showError(err, x); }
      } }, `Export ${u.name}`));
      const confirmBox = h('span', {});
      box.append(h('button', { type: 'button', class: 'danger', onclick: () => {
        set(confirmBox, h('span', { role: 'alert' }, `Erase ${u.name} and every identifying record? This cannot be undone. `),
          h('button', { type: 'button', class: 'danger', onclick: async () => {
            try { await api.del(`/students/${encodeURIComponent(u.id)}`); msg.textContent = `${u.name} erased.`; await load(); } catch (x) { showError(err, x); }
          } }, `Yes, erase ${u.name}`),
          h('button', { type: 'button', class: 'secondary', onclick: () => set(confirmBox) }, 'Cancel'));
      } }, `Erase ${u.name}`), confirmBox);
    }
    return box;
  }

  const tName = h('input', { required: true });
  const tEmail = h('input', { type: 'email', required: true });
  const tPw = h('input', { type: 'password', minlength: 8, required: true, autocomplete: 'new-password' });
  const teacherForm = h('form', { class: 'row', onsubmit: async (e) => {
    e.preventDefault();
    try { await api.post('/teachers', { name: tName.value, email: tEmail.value, password: tPw.value }); msg.textContent = `Teacher ${tName.value} created.`; await load(); } catch (x) { showError(err, x); }
  } }, field('Name', tName), field('Email', tEmail), field('Password', tPw), h('button', { type: 'submit' }, 'Create teacher'));

  page('Users',
    h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); load(); } }, field('Role', role), field('Name or email contains', q), h('button', { type: 'submit' }, 'Search')),
    msg, err, out, h('h2', {}, 'New teacher'), teacherForm);
  await load();
}

export async function auditView() {
  const actor = h('input', {});
  const subject = h('input', {});
  const from = h('input', { type: 'datetime-local' });
  const to = h('input', { type: 'datetime-local' });
  const out = h('div', {});
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More');
  const err = errorBox();
  let cursor = '';
  let rows = [];
  async function load(reset) {
    err.textContent = '';
    if (reset) { cursor = ''; rows = []; }
    const p = new URLSearchParams({ limit: '50' });
    if (actor.value) p.set('actor_id', actor.value.trim());
    if (subject.value) p.set('subject_id', subject.value.trim());
    if (from.value) p.set('from', new Date(from.value).toISOString());
    if (to.value) p.set('to', new Date(to.value).toISOString());
    if (cursor) p.set('cursor', cursor);
    try {
      const page1 = await api.get(`/audit?${p}`);
      rows.push(...page1.items);
      cursor = page1.next_cursor || '';
      more.hidden = !cursor;
      set(out, table(['When', 'Actor', 'Action', 'Subject', 'Request'], rows.map((a) => [when(a.at), a.actor_id || '', a.action, `${a.subject_type} ${a.subject_id || ''}`, a.request_id || ''])));
    } catch (x) { showError(err, x); }
  }
  more.addEventListener('click', () => load(false));
  page('Audit log',
    h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); load(true); } },
      field('Actor id', actor), field('Subject id', subject), field('From (your time)', from), field('To (your time)', to), h('button', { type: 'submit' }, 'Filter')),
    err, out, more);
  await load(true);
}
