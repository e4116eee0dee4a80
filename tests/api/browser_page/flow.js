// The test page: runs one step of the flow at a time (the test reads the emailed code in
// between) and lists every step with the status it got.
import { createAuthClient } from '/auth-client.js';

// Remember the status of the latest answer the page could read, to report it per step.
let lastStatus = -1;
const realFetch = window.fetch.bind(window);
window.fetch = async (...args) => {
  lastStatus = -1;
  const res = await realFetch(...args);
  lastStatus = res.status;
  return res;
};

const api = createAuthClient(new URLSearchParams(location.search).get('api'));
document.getElementById('origin').textContent = `Page origin: ${location.origin}`;

function show(name, outcome) {
  const li = document.createElement('li');
  li.className = outcome.status >= 200 && outcome.status < 300 ? 'ok' : 'err';
  li.textContent = `${name}: ${outcome.status} ${JSON.stringify(outcome.body)}`;
  document.getElementById('steps').appendChild(li);
  return outcome;
}

// Runs api[name](...args) and reports { status, body } instead of throwing.
window.step = async (name, ...args) => {
  try {
    const body = await api[name](...args);
    return show(name, { status: lastStatus, body });
  } catch (e) {
    return show(name, { status: e.status, body: { message: e.message } });
  }
};
window.pageReady = true;
