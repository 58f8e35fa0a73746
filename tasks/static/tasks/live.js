// The live page: tasks from the page, then every change from /ws/tasks/.
// Reconnects after a dropped connection and resumes where it had every event, so
// nothing is missed; each task's version makes applying an event twice harmless.
// With a project picked (?project=<id>, the server's first list is that project's),
// every task is still followed but only that project's are shown: a task moved out
// and back keeps its versions.
// Rows name labels and users from maps the page brings (label and membership events
// keep them current; an id missing from them shows as "#id"), and a member changes a
// task's status through the API with the version shown (If-Match).
"use strict";

(function () {
  const initial = JSON.parse(document.getElementById("live-initial").textContent);
  const tasks = new Map(initial.tasks.map((task) => [task.id, task]));
  const deleted = new Set();
  // id -> {name, role (the user's, null when not a member), archived}
  const projects = new Map(
    initial.projects.map((project) => [
      project.id,
      { name: project.name, role: project.role, archived: project.archived },
    ]),
  );
  // JSON object keys are strings: back to numeric ids.
  const labels = new Map(Object.entries(initial.labels).map(([id, label]) => [Number(id), label]));
  const users = new Map(Object.entries(initial.users).map(([id, name]) => [Number(id), name]));
  const writeRoles = new Set(initial.write_roles);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const chosen = initial.project; // a project id, or null for all
  const picker = document.getElementById("project");
  const body = document.getElementById("tasks");
  const empty = document.getElementById("empty");
  const status = document.getElementById("status");
  const notice = document.getElementById("notice");
  // Tasks whose status change is on its way: their control waits for the answer.
  const pending = new Set();
  // task id -> {row, signature}: a row is rebuilt only when what it shows changed, so
  // an event about one task leaves the other rows (and a control in use) alone.
  const rows = new Map();
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

  function notify(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
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
    return projects.has(id) ? projects.get(id).name : `Project ${id}`;
  }

  function userName(id) {
    if (id === null || id === undefined) return null;
    return users.has(id) ? users.get(id) : `#${id}`;
  }

  function labelOf(id) {
    return labels.get(id) || { name: `#${id}`, color: null };
  }

  function mayChange(task) {
    // As the API decides: a project's admins and members (or a site-wide permission),
    // not while the project is archived. Viewers get a disabled control.
    const project = projects.get(task.project);
    if (project && project.archived) return false;
    if (initial.change_any) return true;
    return Boolean(project && writeRoles.has(project.role));
  }

  function statusControl(task, writable) {
    const select = document.createElement("select");
    select.className = "status-select";
    select.setAttribute("aria-label", `Status of task ${task.id}`);
    for (const [value, label] of initial.statuses) {
      select.appendChild(new Option(label, value, false, value === task.status));
    }
    select.value = task.status;
    select.disabled = !writable || pending.has(task.id);
    if (!writable) select.title = "You may not change this task";
    select.addEventListener("change", () => changeStatus(task.id, task.version, select.value));
    const td = document.createElement("td");
    td.appendChild(select);
    return td;
  }

  function titleCell(task) {
    const td = cell(task.title);
    if (task.blocked) {
      const marker = document.createElement("span");
      marker.className = "blocked";
      marker.title = "A task that blocks it is not completed";
      marker.textContent = "blocked";
      td.append(" ", marker);
    }
    return td;
  }

  function labelsCell(task) {
    const td = document.createElement("td");
    for (const id of task.labels || []) {
      const label = labelOf(id);
      const chip = document.createElement("span");
      chip.className = "label";
      chip.dataset.labelId = id;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      // The API allows #rrggbb only; anything else is left uncoloured.
      if (/^#[0-9a-fA-F]{6}$/.test(label.color || "")) swatch.style.backgroundColor = label.color;
      chip.append(swatch, label.name);
      td.appendChild(chip);
    }
    return td;
  }

  function subtasksText(task) {
    const subtasks = task.subtasks;
    if (!subtasks || !subtasks.total) return null;
    return `${subtasks.completed}/${subtasks.total}`;
  }

  function buildRow(task, shown) {
    const tr = document.createElement("tr");
    tr.dataset.taskId = task.id;
    tr.dataset.version = task.version;
    tr.dataset.project = task.project;
    tr.dataset.status = task.status;
    tr.dataset.blocked = task.blocked ? "true" : "false";
    const due = task.due_date ? new Date(task.due_date).toLocaleString() : null;
    tr.append(
      cell(task.id),
      titleCell(task),
      cell(shown.project),
      statusControl(task, shown.writable),
      cell(task.priority),
      cell(shown.owner),
      cell(shown.assignee),
      labelsCell(task),
      cell(subtasksText(task)),
      cell(due),
      cell(task.version),
    );
    return tr;
  }

  function render(changedId) {
    const shown = [...tasks.values()].filter((task) => chosen === null || task.project === chosen);
    shown.sort((a, b) => b.id - a.id);
    const wanted = shown.map((task) => {
      const names = {
        project: projectName(task.project),
        owner: userName(task.owner),
        assignee: userName(task.assignee),
        labels: (task.labels || []).map(labelOf),
        writable: mayChange(task),
        pending: pending.has(task.id),
      };
      const signature = JSON.stringify([task.version, task.status, names]);
      const known = rows.get(task.id);
      if (known && known.signature === signature) return known.row;
      const row = buildRow(task, names);
      if (task.id === changedId) row.classList.add("changed");
      rows.set(task.id, { row, signature });
      return row;
    });
    // Put the rows in order, moving only those out of place (a moved row would lose
    // the focus of its control); what is left after them is gone.
    wanted.forEach((row, index) => {
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    while (body.children.length > wanted.length) body.lastElementChild.remove();
    const kept = new Set(shown.map((task) => task.id));
    for (const id of rows.keys()) if (!kept.has(id)) rows.delete(id);
    empty.hidden = wanted.length > 0;
  }

  function receive(task) {
    // A task as the API or an event has it: kept unless an older state, late.
    if (deleted.has(task.id)) return;
    const known = tasks.get(task.id);
    if (known && known.version > task.version) return;
    tasks.set(task.id, task);
  }

  async function errorMessage(response) {
    try {
      const answer = await response.json();
      if (answer && answer.error && answer.error.message) return answer.error.message;
    } catch (error) {
      // Not the API's error shape (a proxy's page): say the status.
    }
    return `the server answered ${response.status}`;
  }

  function request(method, id, options) {
    return fetch(`${initial.tasks_url}${id}/`, {
      method,
      credentials: "same-origin",
      ...options,
      headers: { Accept: "application/json", ...(options && options.headers) },
    });
  }

  async function reload(id) {
    // The task as it is now (a 412 said the one shown is out of date).
    const response = await request("GET", id);
    if (response.ok) {
      receive(await response.json());
    } else if (response.status === 404) {
      tasks.delete(id); // out of sight now
    }
  }

  async function changeStatus(id, version, value) {
    pending.add(id);
    render(null);
    try {
      const response = await request("PATCH", id, {
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken,
          "If-Match": `"${id}-${version}"`,
        },
        body: JSON.stringify({ status: value }),
      });
      if (response.ok) {
        receive(await response.json());
        notify(null);
      } else if (response.status === 412) {
        notify(`Task ${id} was changed meanwhile: it shows its current state now.`);
        await reload(id);
      } else {
        notify(`Task ${id} not changed: ${await errorMessage(response)}`);
        if (response.status === 404) tasks.delete(id);
      }
    } catch (error) {
      notify(`Task ${id} not changed: the server could not be reached.`);
    } finally {
      pending.delete(id);
      // Rebuilt from the task as now known: a refused change shows the old status.
      rows.delete(id);
      render(id);
    }
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
    if (member && typeof member.id === "number" && typeof member.username === "string") {
      users.set(member.id, member.username);
    }
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
      if (projects.has(project.id)) projects.get(project.id).role = null;
      render(null);
      return;
    }
    if (typeof project.name !== "string") return;
    const known = projects.get(project.id) || { name: project.name, role: null, archived: false };
    known.name = project.name;
    if (typeof project.is_archived === "boolean") known.archived = project.is_archived;
    if (mine && message.type === "project.created") known.role = "admin"; // its creator
    if (mine && member && typeof project.member.role === "string") known.role = project.member.role;
    projects.set(project.id, known);
    const option = pickerOption(project.id);
    if (option) {
      option.textContent = project.name;
    } else if (mine && (message.type === "project.created" || message.type === "project.member_added")) {
      picker.appendChild(new Option(project.name, String(project.id)));
    }
    render(null);
  }

  function applyLabel(message) {
    const label = message.label;
    seen(message);
    if (!label || typeof label.id !== "number") return;
    if (message.type === "label.deleted") {
      // Its tasks lose it with their own events.
      labels.delete(label.id);
    } else if (typeof label.name === "string") {
      labels.set(label.id, { name: label.name, color: label.color });
    }
    render(null);
  }

  function apply(message) {
    const task = message.task;
    seen(message);
    if (message.type === "task.deleted") {
      deleted.add(task.id);
      tasks.delete(task.id);
    } else {
      receive(task);
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
        case "label.created":
        case "label.updated":
        case "label.deleted":
          applyLabel(message);
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
