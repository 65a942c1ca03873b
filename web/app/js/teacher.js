// The whiteboard: classrooms and rosters, starting a session, and the live
// session on the projector.
import { h, set, page, field, errorBox, showError, announce, bar, table, when } from './ui.js';
import * as api from './api.js';
import { Live } from './live.js';

export async function startView() {
  const [classrooms, quizzes] = await Promise.all([api.all('/classrooms'), api.all('/quizzes')]);
  const cls = h('select', { testid: 'classroom-select' },
    classrooms.map((c) => h('option', { value: c.id }, c.name)));
  const qz = h('select', { testid: 'quiz-select' },
    quizzes.map((q) => h('option', { value: q.id }, `${q.title} (${q.question_count} questions)`)));
  const err = errorBox();
  const live = h('div', {});
  const create = h('button', { testid: 'session-create', type: 'button', disabled: !classrooms.length || !quizzes.length, onclick: async () => {
    err.textContent = '';
    try {
      const s = await api.post('/sessions', { quiz_id: qz.value, classroom_id: cls.value });
      location.hash = `#/session/${s.id}`;
    } catch (x) { showError(err, x); }
  } }, 'Create session');
  const showLive = async () => {
    if (!cls.value) return;
    try {
      const list = await api.get(`/classrooms/${encodeURIComponent(cls.value)}/sessions?state=live`);
      set(live, list.items.length ? h('ul', {}, list.items.map((s) =>
        h('li', {}, h('a', { href: `#/session/${s.id}` }, `Session of ${when(s.created_at)} (${s.state}, ${s.participants} joined)`)))) : '');
    } catch { set(live); }
  };
  cls.addEventListener('change', showLive);
  page('Run a quiz',
    h('div', { class: 'row' }, field('Classroom', cls), field('Quiz', qz), create), err,
    !classrooms.length ? h('p', {}, 'Create a classroom first: ', h('a', { href: '#/classrooms' }, 'Classrooms')) : '',
    !quizzes.length ? h('p', {}, 'Write a quiz first: ', h('a', { href: '#/quizzes/new' }, 'New quiz')) : '',
    h('h2', {}, 'Live sessions of this classroom'), live);
  showLive();
}

export async function classroomsView() {
  const list = await api.all('/classrooms');
  const name = h('input', { name: 'name', required: true, maxlength: 200 });
  const subject = h('input', { name: 'subject' });
  const grade = h('input', { name: 'grade' });
  const err = errorBox();
  const form = h('form', { class: 'row', name: 'new-classroom', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const body = { name: name.value };
      if (subject.value) body.subject = subject.value;
      if (grade.value) body.grade = grade.value;
      const c = await api.post('/classrooms', body);
      location.hash = `#/classrooms/${c.id}`;
    } catch (x) { showError(err, x); }
  } }, field('Name', name), field('Subject', subject), field('Grade', grade), h('button', { type: 'submit' }, 'Create classroom'));
  page('Classrooms',
    list.length ? h('ul', {}, list.map((c) => h('li', {}, h('a', { href: `#/classrooms/${c.id}` }, c.name),
      c.subject ? ` · ${c.subject}` : '', c.grade ? ` · ${c.grade}` : ''))) : h('p', {}, 'No classroom yet.'),
    h('h2', {}, 'New classroom'), form, err);
}

// parseCSV reads RFC 4180 text (quotes, commas and newlines in quotes).
export function parseCSV(text) {
  const rows = [];
  let row = [], cell = '', quoted = false;
  text = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); cell = '';
      if (row.some((c) => c !== '')) rows.push(row);
      row = [];
    } else cell += ch;
  }
  row.push(cell);
  if (row.some((c) => c !== '')) rows.push(row);
  return rows;
}

export async function classroomView(id) {
  const cid = encodeURIComponent(id);
  const [c, roster] = await Promise.all([api.get(`/classrooms/${cid}`), api.all(`/classrooms/${cid}/students`)]);
  const msg = h('p', { class: 'notice', role: 'status' });
  const err = errorBox();
  const refresh = () => classroomView(id);
  const rows = roster.map((s) => [s.name, s.email, h('span', {},
    h('button', { type: 'button', class: 'secondary', onclick: async () => {
      try {
        const r = await api.post(`/users/${encodeURIComponent(s.id)}/password-reset`, {});
        msg.textContent = `Reset code for ${s.name}: ${r.reset_code} (shown once; valid ${Math.round(r.expires_in / 3600)} h)`;
      } catch (x) { showError(err, x); }
    } }, 'Reset code'), ' ',
    h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${s.name}`, onclick: async () => {
      try { await api.del(`/classrooms/${cid}/students/${encodeURIComponent(s.id)}`); await refresh(); } catch (x) { showError(err, x); }
    } }, 'Remove'))]);
  const name = h('input', { name: 'student-name', required: true, autocomplete: 'off' });
  const email = h('input', { name: 'student-email', type: 'email', required: true, autocomplete: 'off' });
  const pw = h('input', { name: 'student-password', type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const add = h('form', { class: 'row', name: 'add-student', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api.post(`/classrooms/${cid}/students`, { students: [{ name: name.value, email: email.value, password: pw.value }] });
      await refresh();
    } catch (x) { showError(err, x); }
  } }, field('Name', name), field('Email', email), field('Password', pw), h('button', { type: 'submit' }, 'Add student'));
  const csvText = h('textarea', { name: 'roster-csv', placeholder: 'name,email,password\nAda Lovelace,ada@school.example,secret-pass' });
  const importBtn = h('button', { type: 'button', name: 'roster-import', onclick: async () => {
    err.textContent = ''; msg.textContent = '';
    try { msg.textContent = await importRoster(cid, csvText.value); await refresh(); } catch (x) { showError(err, x); }
  } }, 'Import CSV');
  page(`Classroom ${c.name}`,
    h('p', { class: 'muted' }, [c.subject, c.grade].filter(Boolean).join(' · '), ` ${c.student_count} students`),
    h('p', {}, h('a', { href: `#/report/classroom/${c.id}` }, 'Engagement report')),
    msg, err,
    h('h2', {}, 'Roster'),
    roster.length ? table(['Name', 'Email', 'Actions'], rows) : h('p', {}, 'No students yet.'),
    h('h2', {}, 'Add a student'), add,
    h('h2', {}, 'Paste a CSV roster'),
    h('p', { class: 'muted' }, 'A header row name,email and optionally password; one student per row.'),
    field('CSV roster', csvText), importBtn);
}

// importRoster sends a pasted CSV to the import endpoint; a server without
// it gets the rows through the JSON enrolment instead.
async function importRoster(cid, text) {
  try {
    const r = await api.request('POST', `/classrooms/${cid}/students/import`, { raw: text, type: 'text/csv' });
    const errs = (r.errors || []).map((e) => `row ${e.row} ${e.field}: ${e.message}`).join('; ');
    return `Created ${r.created}, enrolled ${r.enrolled}, unchanged ${r.unchanged}.${errs ? ` Errors: ${errs}` : ''}`;
  } catch (x) {
    if (x.status !== 404 && x.status !== 405) throw x;
  }
  const rows = parseCSV(text);
  if (rows.length < 2) throw new Error('The CSV needs a header row and at least one student.');
  const head = rows[0].map((c) => c.trim().toLowerCase());
  const col = (n) => head.indexOf(n);
  if (col('name') < 0 || col('email') < 0) throw new Error('The header row must have name and email.');
  const students = rows.slice(1).map((r) => ({ name: r[col('name')], email: r[col('email')], password: col('password') >= 0 ? r[col('password')] : '' }));
  let n = 0;
  for (let i = 0; i < students.length; i += 200) {
    const r = await api.post(`/classrooms/${cid}/students`, { students: students.slice(i, i + 200) });
    n += r.items.length;
  }
  return `Enrolled ${n} students.`;
}

// liveView is the projector screen of a session.
export function liveView(id) {
  const st = { snap: null, q: null, dist: {}, answered: 0, participants: 0, correct: null, ended: false };
  const status = h('span', { testid: 'connection-status', class: 'status', role: 'status' }, 'connecting');
  const stateText = h('span', { class: 'muted' });
  const lobby = h('span', { testid: 'lobby-count' }, '0');
  const joinedOf = h('span', {}, '0');
  const setJoined = (n) => { lobby.textContent = String(n); joinedOf.textContent = String(n); };
  const err = errorBox();
  const cmd = (name) => async () => {
    err.textContent = '';
    try { apply({ type: 'snapshot', data: await api.post(`/sessions/${encodeURIComponent(id)}/${name}`, {}) }); } catch (x) { showError(err, x); }
  };
  const bStart = h('button', { testid: 'session-start', type: 'button', onclick: cmd('start') }, 'Start');
  const bNext = h('button', { testid: 'session-next', type: 'button', onclick: cmd('next') }, 'Next question');
  const bClose = h('button', { testid: 'session-close', type: 'button', onclick: cmd('close') }, 'Close question');
  const bEnd = h('button', { testid: 'session-end', type: 'button', class: 'danger', onclick: cmd('end') }, 'End session');
  const qIndex = h('p', { class: 'muted' });
  const qText = h('p', { testid: 'question-text', class: 'question' });
  const countdown = h('span', { testid: 'countdown', class: 'countdown', role: 'timer', 'aria-label': 'seconds left' });
  const answered = h('span', { testid: 'progress-answered' }, '0');
  const dist = h('div', { testid: 'distribution', class: 'bars', role: 'group', 'aria-label': 'Answers per option' });
  const board = h('ol', { testid: 'leaderboard', class: 'leaderboard', 'aria-label': 'Leaderboard' });
  const report = h('a', { testid: 'report-link', href: `#/report/session/${id}` }, 'Session report');
  // Who joined, as the participants messages name them (the snapshot has
  // only the count, so a reloaded screen lists the students seen since).
  const joined = new Map();
  const who = h('ul', { class: 'joined', 'aria-label': 'Students who joined' });
  function renderJoined() {
    set(who, [...joined].map(([uid, name]) => h('li', {}, name, ' ',
      st.ended ? '' : h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${name} from the session`, onclick: async () => {
        try { await api.del(`/sessions/${encodeURIComponent(id)}/participants/${encodeURIComponent(uid)}`); joined.delete(uid); renderJoined(); } catch (x) { showError(err, x); }
      } }, 'Remove'))));
  }

  function renderButtons() {
    const s = st.snap;
    const state = s ? s.state : '';
    const open = st.q && !st.q.closed;
    const idx = st.q ? st.q.index : -1;
    bStart.disabled = state !== 'lobby';
    bNext.disabled = state !== 'running' || !s || idx + 1 >= s.question_count;
    bClose.disabled = state !== 'running' || !open;
    bEnd.disabled = state === 'ended' || !s;
    stateText.textContent = state === 'lobby' ? 'Lobby: students are joining' : state === 'running' ? 'Running' : state === 'ended' ? 'Ended' : '';
  }
  function renderQuestion() {
    const q = st.q;
    if (!q) { qText.textContent = st.snap && st.snap.state === 'running' ? 'Press “Next question” to open the first question.' : ''; set(dist); return; }
    qIndex.textContent = `Question ${q.index + 1} of ${st.snap ? st.snap.question_count : '?'} · ${q.kind.replace('_', '/')} · ${q.points} points`;
    qText.textContent = q.text;
    renderDist();
  }
  function renderDist() {
    const q = st.q;
    if (!q) return;
    const total = Object.values(st.dist).reduce((a, b) => a + b, 0);
    answered.textContent = String(st.answered);
    set(dist, q.options.map((o) => {
      const n = st.dist[o.id] || 0;
      const right = st.correct && st.correct.includes(o.id);
      return h('div', { testid: 'distribution-bar', 'data-option-id': o.id, class: right ? 'bar correct' : 'bar' },
        h('span', { class: 'label' }, right ? `✓ ${o.text}` : o.text), bar(total ? n / total : 0), h('span', { class: 'num' }, String(n)));
    }));
  }
  let lastSpoken = null;
  function tick() {
    const q = st.q;
    if (!q || q.closed) { countdown.textContent = q ? '0' : ''; return; }
    const left = Math.max(0, Math.ceil((Date.parse(q.deadline) - api.clock.now()) / 1000));
    countdown.textContent = String(left);
    if ((left === 10 || left === 5) && lastSpoken !== left) { lastSpoken = left; announce(`${left} seconds left`); }
  }
  const timer = setInterval(tick, 250);

  function openQuestion(q, opened) {
    st.q = { ...q, opened_at: opened.opened_at, deadline: opened.deadline, closed: Boolean(opened.closed) };
    st.dist = {}; st.answered = 0; st.correct = null;
    renderQuestion(); renderButtons(); tick();
  }

  function apply(f) {
    const d = f.data || {};
    switch (f.type) {
      case 'welcome':
      case 'snapshot': {
        const s = f.type === 'welcome' ? d.session : d;
        st.snap = { ...(st.snap || {}), ...s };
        setJoined(s.participants);
        const cq = s.current_question;
        if (cq && (!st.q || st.q.id !== cq.id)) openQuestion(cq, cq);
        else if (cq && st.q) { st.q.closed = cq.closed; }
        renderQuestion(); renderButtons(); tick();
        if (s.state === 'ended') { st.ended = true; }
        break;
      }
      case 'session.started': st.snap.state = 'running'; renderButtons(); renderQuestion(); announce('Session started'); break;
      case 'question.opened':
        api.clock.fromEvent(d.opened_at);
        openQuestion(d.question, d);
        announce(`Question ${d.question.index + 1}: ${d.question.text}`);
        break;
      case 'answer.progress':
        if (st.q && d.question_id === st.q.id) { st.answered = d.answered; st.dist = d.distribution || {}; renderDist(); }
        break;
      case 'question.closed':
        if (st.q && d.question_id === st.q.id) {
          st.q.closed = true; st.correct = d.correct; st.dist = d.distribution || {}; st.answered = d.answered;
          renderDist(); renderButtons(); tick();
          announce('Question closed');
        }
        break;
      case 'leaderboard':
        set(board, (d.top || []).map((r) => h('li', { testid: 'leaderboard-row' },
          h('span', {}, `${r.rank}.`), ' ', h('span', {}, r.name), ' ', h('span', { class: 'num' }, String(r.score)))));
        break;
      case 'participants':
        setJoined(d.count);
        if (st.snap) st.snap.participants = d.count;
        for (const j of d.joined || []) joined.set(j.user_id, j.name);
        renderJoined();
        break;
      case 'session.ended': st.snap.state = 'ended'; st.ended = true; renderButtons(); announce('Session ended'); break;
      case 'error': err.textContent = d.message || d.code; break;
      default:
    }
  }

  const live = new Live(id, {
    frame: apply,
    status: (s) => {
      status.textContent = s === 'ended' ? 'connected' : s;
      status.className = `status ${s === 'ended' ? 'connected' : s}`;
      if (s === 'kicked' || s === 'denied') err.textContent = 'You may not run this session.';
      if (s === 'replaced') { err.textContent = 'This session was opened in another window or on another device.'; live.stop(); }
    },
  });
  page('Live session',
    h('div', { class: 'live-head' }, status, stateText, h('span', {}, 'Joined: ', lobby), report),
    h('div', { class: 'controls' }, bStart, bNext, bClose, bEnd), err,
    h('div', { class: 'two' },
      h('section', { 'aria-label': 'Question' }, qIndex, qText,
        h('div', { class: 'bigstats' }, h('span', {}, countdown, ' s'), h('span', {}, 'Answers: ', answered, ' / ', joinedOf)),
        dist),
      h('section', { 'aria-label': 'Leaderboard' }, h('h2', {}, 'Leaderboard'), board,
        h('details', {}, h('summary', {}, 'Students who joined'), who))));
  renderButtons();
  live.start();
  return () => { clearInterval(timer); live.stop(); };
}
