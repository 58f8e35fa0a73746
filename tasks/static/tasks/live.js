// The live page: tasks from the page, then every change from /ws/tasks/.
// Reconnects after a dropped connection and resumes where it had every event, so
// nothing is missed; each task's version makes applying an event twice harmless.
"use strict";

(function () {
  const initial = JSON.parse(document.getElementById("live-initial").textContent);
  const tasks = new Map(initial.tasks.map((task) => [task.id, task]));
  const deleted = new Set();
  const body = document.getElementById("tasks");
  const empty = document.getElementById("empty");
  const status = document.getElementById("status");
  // Every event up to `resumeAfter` has arrived: a reconnect resumes after it. While
  // a resume is still paging through what was missed, a live event of a higher id
  // says nothing about the ones before it, so only the resume's pages move it on.
  let resumeAfter = initial.last_event;
  let newest = initial.last_event;
  let caughtUp = false;
  let retryDelay = 500;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "—" : String(text);
    return td;
  }

  function render(changedId) {
    const rows = [...tasks.values()].sort((a, b) => b.id - a.id).map((task) => {
      const tr = document.createElement("tr");
      tr.dataset.taskId = task.id;
      tr.dataset.version = task.version;
      const due = task.due_date ? new Date(task.due_date).toLocaleString() : null;
      [task.id, task.title, task.status, task.priority, task.assignee, due, task.version]
        .forEach((value) => tr.appendChild(cell(value)));
      if (task.id === changedId) tr.classList.add("changed");
      return tr;
    });
    body.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
  }

  function apply(message) {
    const task = message.task;
    newest = Math.max(newest, message.event);
    if (caughtUp) resumeAfter = newest;
    if (message.type === "task.deleted") {
      deleted.add(task.id);
      tasks.delete(task.id);
    } else if (!deleted.has(task.id)) {
      const known = tasks.get(task.id);
      if (known && known.version > task.version) return; // an older state, late
      tasks.set(task.id, task);
    }
    render(task.id);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The session cookie authenticates the socket: same host, whatever the port.
    const socket = new WebSocket(initial.socket_url || `${scheme}://${location.host}/ws/tasks/`);
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      switch (message.type) {
        case "ready":
          retryDelay = 500;
          caughtUp = false;
          socket.send(JSON.stringify({ type: "resume", after: resumeAfter }));
          break;
        case "resumed":
          if (!message.complete) {
            resumeAfter = Math.max(resumeAfter, message.last);
            socket.send(JSON.stringify({ type: "resume", after: message.last }));
          } else {
            caughtUp = true;
            resumeAfter = newest;
            setStatus("live", "Live");
          }
          break;
        case "task.created":
        case "task.updated":
        case "task.deleted":
          apply(message);
          break;
        case "error":
          console.warn("live tasks:", message.error.code, message.error.message);
          break;
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        setStatus("signed-out", "Signed out: reload the page to sign in again");
        return;
      }
      setStatus("reconnecting", "Reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 5000);
    });
  }

  render(null);
  connect();
})();
