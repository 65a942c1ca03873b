// Entry point: login, navigation by role and the hash router. Teachers and
// admins get the whiteboard, students the notebook.
import { h, set, page, field, errorBox, showError } from './ui.js';
import * as api from './api.js';
import * as teacher from './teacher.js';
import * as quizedit from './quizedit.js';
import * as student from './student.js';
import * as reports from './reports.js';
import * as admin from './admin.js';

let current = null; // the view's cleanup (a live socket to stop)

function isStaff(u) { return u && (u.role === 'teacher' || u.role === 'admin'); }

function nav(user) {
  const links = [];
  if (isStaff(user)) {
    links.push(['#/live', 'Run a quiz'], ['#/classrooms', 'Classrooms'], ['#/quizzes', 'Quizzes'], ['#/reports', 'Reports']);
    if (user.role === 'admin') links.push(['#/admin/users', 'Users'], ['#/admin/audit', 'Audit log']);
  } else if (user) {
    links.push(['#/join', 'Live sessions'], ['#/me', 'My results']);
  }
  const here = location.hash.split('/').slice(0, 2).join('/');
  set(document.getElementById('nav'), links.map(([href, label]) =>
    h('a', { href, 'aria-current': href.split('/').slice(0, 2).join('/') === here ? 'page' : false }, label)));
  const who = document.getElementById('who');
  if (user) {
    set(who, h('span', {}, `${user.name} (${user.role})`),
      h('button', { testid: 'logout', type: 'button', onclick: async () => { await api.logout(); go('#/login'); } }, 'Log out'));
  } else {
    set(who);
  }
}

export function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function loginView() {
  const email = h('input', { testid: 'login-email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { testid: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const err = errorBox();
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      await api.login(email.value.trim(), password.value);
      go('#/');
    } catch (x) { showError(err, x); }
  } },
  field('Email', email), field('Password', password),
  h('button', { testid: 'login-submit', type: 'submit' }, 'Log in'), err);
  page('Log in', form, h('p', {}, 'New school? ', h('a', { href: '#/register' }, 'Register a school')));
}

function registerView() {
  const name = h('input', { autocomplete: 'name', required: true });
  const email = h('input', { type: 'email', autocomplete: 'email', required: true });
  const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const school = h('input', { required: true });
  const err = errorBox();
  page('Register a school', h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api.post('/auth/register', { name: name.value, email: email.value, password: password.value, school_name: school.value });
      await api.login(email.value, password.value);
      go('#/');
    } catch (x) { showError(err, x); }
  } }, field('Your name', name), field('Email', email), field('Password (8 characters or more)', password),
  field('School name', school), h('button', { type: 'submit' }, 'Register'), err),
  h('p', {}, h('a', { href: '#/login' }, 'Back to log in')));
}

async function route() {
  if (current) { try { current(); } catch { /* view already gone */ } current = null; }
  const user = api.auth.user();
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  nav(user);
  if (!user) {
    if (parts[0] === 'register') registerView(); else loginView();
    return;
  }
  const [a, b, c] = parts;
  const staff = isStaff(user);
  let cleanup;
  try {
    if (a === 'session' && b) cleanup = staff ? teacher.liveView(b) : student.liveView(b);
    else if (a === 'report' && b && c) await reports.one(b, c);
    else if (!staff) {
      if (a === 'me') await reports.mine(user);
      else cleanup = student.joinView();
    } else if (a === 'classrooms') await (b ? teacher.classroomView(b) : teacher.classroomsView());
    else if (a === 'quizzes') await (b ? quizedit.editView(b) : quizedit.listView());
    else if (a === 'reports') await reports.index(user);
    else if (a === 'admin' && user.role === 'admin') await (b === 'audit' ? admin.auditView() : admin.usersView());
    else await teacher.startView();
  } catch (x) {
    const err = errorBox();
    showError(err, x);
    page('Something went wrong', err, h('p', {}, h('a', { href: '#/' }, 'Home')));
  }
  current = cleanup || null;
}

api.setUnauthorizedHandler(() => go('#/login'));
window.addEventListener('hashchange', route);
route();

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => {});
}
