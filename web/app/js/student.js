// The notebook: live sessions of the student's classrooms, and answering.
import { h, set, page, errorBox, showError, announce, when } from './ui.js';
import * as api from './api.js';
import { Live } from './live.js';

export function joinView() {
  const list = h('ul', { class: 'sessions', 'aria-live': 'polite' });
  const err = errorBox();
  const empty = h('p', { class: 'muted' });
  async function load() {
    try {
      const classrooms = await api.all('/classrooms');
      const lists = await Promise.all(classrooms.map((c) =>
        api.get(`/classrooms/${encodeURIComponent(c.id)}/sessions?state=live`).then((r) => r.items.map((s) => ({ s, c })))));
      const items = lists.flat();
      empty.textContent = items.length ? '' : 'No live session right now. This page updates by itself.';
      set(list, items.map(({ s, c }) => h('li', {},
        h('span', {}, `${c.name}`, h('br'), h('span', { class: 'muted' }, `${s.state === 'lobby' ? 'Waiting to start' : 'Running'} · since ${when(s.created_at)}`)),
        h('button', { testid: 'live-session-join', type: 'button', 'data-session-id': s.id, onclick: () => { location.hash = `#/session/${s.id}`; } }, 'Join'))));
      err.textContent = '';
    } catch (x) { showError(err, x); }
  }
  page('Live sessions', empty, list, err);
  load();
  const t = setInterval(load, 3000);
  return () => clearInterval(t);
}

const FINAL = ['accepted', 'closed', 'already_answered', 'not_open', 'invalid_choice'];

// The student's answer of the current question is kept in sessionStorage,
// so a reload shows it and a reconnect re-sends exactly the same choices
// (the server answers a re-send with the original answer.accepted).
function memory(sessionId) {
  const key = `quizcast.answer.${sessionId}`;
  return {
    get() { try { return JSON.parse(sessionStorage.getItem(key)); } catch { return null; } },
    set(v) { sessionStorage.setItem(key, JSON.stringify(v)); },
  };
}

export function liveView(id) {
  const mem = memory(id);
  const st = { q: null, closed: false, picked: [], ans: null, state: '' };
  const status = h('span', { testid: 'connection-status', class: 'status', role: 'status' }, 'connecting');
  const info = h('p', { class: 'muted', 'aria-live': 'polite' });
  const qText = h('p', { testid: 'question-text', class: 'question' });
  const countdown = h('span', { class: 'countdown', role: 'timer', 'aria-label': 'seconds left' });
  const options = h('div', { class: 'options', role: 'group', 'aria-label': 'Answer options' });
  const submit = h('button', { testid: 'answer-submit', type: 'button', hidden: true, onclick: () => send(st.picked) }, 'Send answer');
  const answerStatus = h('p', { testid: 'answer-status', class: 'answer-status', 'aria-live': 'assertive', 'aria-atomic': 'true' });
  const sending = h('p', { class: 'muted', 'aria-live': 'polite' });
  const result = h('p', { testid: 'result', class: 'result', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const score = h('p', { class: 'muted' });
  const err = errorBox();

  function locked() { return Boolean(st.ans) || st.closed || !st.q; }

  function render() {
    const q = st.q;
    if (!q) {
      qText.textContent = st.state === 'ended' ? 'The session has ended.' : 'Waiting for the teacher…';
      set(options); submit.hidden = true; countdown.textContent = '';
      return;
    }
    qText.textContent = q.text;
    const chosen = st.ans ? st.ans.choices : st.picked;
    set(options, q.options.map((o) => h('button', {
      testid: 'answer-option', type: 'button', class: 'option', 'data-option-id': o.id,
      'aria-pressed': chosen.includes(o.id) ? 'true' : 'false', disabled: locked(),
      onclick: () => pick(o.id),
    }, o.text)));
    submit.hidden = q.kind !== 'multi';
    submit.disabled = locked() || !st.picked.length;
    answerStatus.textContent = st.ans && FINAL.includes(st.ans.status) ? st.ans.status : (st.closed && !st.ans ? 'closed' : '');
    sending.textContent = st.ans && st.ans.status === 'sending' ? 'Sending your answer…' : '';
  }

  function pick(optionId) {
    if (locked()) return;
    if (st.q.kind === 'multi') {
      st.picked = st.picked.includes(optionId) ? st.picked.filter((x) => x !== optionId) : [...st.picked, optionId];
      render();
      return;
    }
    send([optionId]);
  }

  // send fixes the answer for this question: once chosen it never changes,
  // it is only re-sent (identical) until the server decides.
  function send(choices) {
    if (!st.q || !choices.length || (st.ans && st.ans.question_id === st.q.id)) return;
    st.ans = { question_id: st.q.id, choices: [...choices], status: 'sending' };
    mem.set(st.ans);
    render();
    deliver();
  }

  async function deliver() {
    const a = st.ans;
    if (!a || a.status !== 'sending' || !live.open) return;
    try {
      const reply = await live.send('answer', { question_id: a.question_id, choices: a.choices });
      if (st.ans !== a) return;
      if (reply.type === 'answer.accepted') a.status = 'accepted';
      else if (reply.type === 'answer.rejected') a.status = reply.data.code;
      else if (reply.type === 'error') { err.textContent = reply.data.message || reply.data.code; return; }
      mem.set(a);
      announce(`Answer ${a.status.replace('_', ' ')}`);
      render();
    } catch { /* the connection dropped: re-sent after the reconnect */ }
  }

  function setQuestion(q, closed) {
    if (st.q && st.q.id === q.id) { st.closed = closed; render(); return; }
    st.q = q; st.closed = closed; st.picked = [];
    const saved = mem.get();
    st.ans = saved && saved.question_id === q.id ? saved : null;
    if (!st.ans) result.textContent = '';
    render();
  }

  let lastSpoken = null;
  function tick() {
    const q = st.q;
    if (!q || st.closed) { countdown.textContent = ''; return; }
    const left = Math.max(0, Math.ceil((Date.parse(q.deadline) - api.clock.now()) / 1000));
    countdown.textContent = `${left} s`;
    if ((left === 10 || left === 5) && lastSpoken !== left) { lastSpoken = left; announce(`${left} seconds left`); }
  }
  const timer = setInterval(tick, 250);

  function apply(f) {
    const d = f.data || {};
    switch (f.type) {
      case 'welcome': {
        const s = d.session;
        st.state = s.state;
        info.textContent = s.state === 'lobby' ? 'You joined. The teacher will start soon.' : s.state === 'ended' ? 'The session has ended.' : '';
        const cq = s.current_question;
        if (cq) setQuestion({ ...cq, deadline: cq.deadline }, cq.closed);
        else render();
        // A pending (or, after a reload, already accepted) answer is re-sent
        // as it was: the server confirms it or says why not.
        if (st.ans && st.ans.status === 'accepted' && !d.recovered) st.ans.status = 'sending';
        deliver();
        break;
      }
      case 'session.started': st.state = 'running'; info.textContent = 'The quiz has started.'; render(); break;
      case 'question.opened':
        api.clock.fromEvent(d.opened_at);
        setQuestion({ ...d.question, deadline: d.deadline }, false);
        result.textContent = '';
        announce(`Question ${d.question.index + 1}: ${d.question.text}`);
        break;
      case 'question.closed':
        if (st.q && st.q.id === d.question_id) {
          st.closed = true;
          render();
          for (const b of options.querySelectorAll('[data-option-id]')) if (d.correct.includes(b.dataset.optionId)) b.classList.add('correct');
        }
        break;
      case 'result': {
        const word = d.correct === null ? 'poll' : d.correct ? 'correct' : 'incorrect';
        result.textContent = `${word} · ${d.points} points · rank ${d.rank}`;
        score.textContent = `Your score: ${d.score}`;
        break;
      }
      case 'session.ended': st.state = 'ended'; info.textContent = 'The session has ended. Well done!'; st.closed = true; render(); break;
      case 'error': err.textContent = d.message || d.code; break;
      default:
    }
  }

  const live = new Live(id, {
    frame: apply,
    status: (s) => {
      const shown = s === 'ended' ? 'connected' : s;
      status.textContent = shown;
      status.className = `status ${shown}`;
      if (s === 'kicked') { info.textContent = 'The teacher removed you from this session.'; live.stop(); }
      if (s === 'denied') info.textContent = 'You cannot join this session.';
      if (s === 'replaced') { info.textContent = 'This session was opened in another window or on another device.'; live.stop(); }
      if (s === 'reconnecting') announce('Connection lost, reconnecting');
    },
  });
  page('Live quiz',
    h('div', { class: 'live-head' }, status, countdown, h('a', { href: '#/join' }, 'Back to live sessions')),
    info, qText, options, submit, sending, answerStatus, result, score, err);
  render();
  live.start();
  return () => { clearInterval(timer); live.stop(); };
}
