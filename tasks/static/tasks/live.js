// The live page: tasks from the page, then every change from /ws/tasks/.
// Reconnects after a dropped connection and resumes where it had every event, so
// nothing is missed; each task's version makes applying an event twice harmless.
// With a project picked (?project=<id>, the server's first list is that project's),
// every task is still followed but only that project's are shown: a task moved out
// and back keeps its versions.
"use strict";

(function () {
  const initial = JSON.parse(document.getElementById("live-initial").textContent);
  const tasks = new Map(initial.tasks.map((task) => [task.id, task]));
  const deleted = new Set();
  const projectNames = new Map(initial.projects.map((project) => [project.id, project.name]));
  const chosen = initial.project; // a project id, or null for all
  const picker = document.getElementById("project");
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

  function projectName(id) {
    // A project the page was not told of (joined since, or seen through a site-wide
    // permission): its id until an event names it.
    if (id === null || id === undefined) return null;
    return projectNames.has(id) ? projectNames.get(id) : `Project ${id}`;
  }

  function render(changedId) {
    const shown = [...tasks.values()].filter((task) => chosen === null || task.project === chosen);
    const rows = shown.sort((a, b) => b.id - a.id).map((task) => {
      const tr = document.createElement("tr");
      tr.dataset.taskId = task.id;
      tr.dataset.version = task.version;
      tr.dataset.project = task.project;
      const due = task.due_date ? new Date(task.due_date).toLocaleString() : null;
      const project = projectName(task.project);
      [task.id, task.title, project, task.status, task.priority, task.assignee, due, task.version]
        .forEach((value) => tr.appendChild(cell(value)));
      if (task.id === changedId) tr.classList.add("changed");
      return tr;
    });
    body.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
  }

  function seen(message) {
    newest = Math.max(newest, message.event);
    if (caughtUp) resumeAfter = newest;
  }

  function pickerOption(id) {
    return [...picker.options].find((option) => option.value === String(id));
  }

  function applyProject(message) {
    const project = message.project;
    seen(message);
    if (!project || typeof project.id !== "number") return;
    const member = project.member && project.member.user;
    const mine = member ? member.id === initial.user : message.actor === initial.user;
    if (
      message.type === "project.deleted" ||
      (message.type === "project.member_removed" && mine)
    ) {
      // Its tasks went with it, or out of sight: no task event says so.
      for (const task of [...tasks.values()]) {
        if (task.project !== project.id) continue;
        tasks.delete(task.id);
        if (message.type === "project.deleted") deleted.add(task.id);
      }
      render(null);
      return;
    }
    if (typeof project.name !== "string") return;
    projectNames.set(project.id, project.name);
    const option = pickerOption(project.id);
    if (option) {
      option.textContent = project.name;
    } else if (mine && (message.type === "project.created" || message.type === "project.member_added")) {
      picker.appendChild(new Option(project.name, String(project.id)));
    }
    render(null);
  }

  function apply(message) {
    const task = message.task;
    seen(message);
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
        case "project.created":
        case "project.updated":
        case "project.deleted":
        case "project.member_added":
        case "project.member_removed":
        case "project.member_role_changed":
          applyProject(message);
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

  picker.addEventListener("change", () => {
    // The server lists the chosen project's most recent tasks.
    const url = new URL(location.href);
    if (picker.value) url.searchParams.set("project", picker.value);
    else url.searchParams.delete("project");
    location.assign(url);
  });

  render(null);
  connect();
})();
