// Task List page: plain JavaScript, no build step. Every request goes to /api/ on the host
// that served this page, so it works at any address and through the web server's proxy.
"use strict";

(function () {
  const API = "/api/tasks";

  const form = document.getElementById("add-task-form");
  const titleInput = document.getElementById("new-task-title");
  const list = document.getElementById("task-list");
  const emptyState = document.getElementById("empty-state");
  const message = document.getElementById("message");

  // body[data-state] tells people (cursor) and tests (a stable hook) whether the page is
  // still waiting for the API: "loading" while any request runs, then "ready" or "error".
  let pending = 0;
  let lastFailed = false;

  function setBusy(delta) {
    pending += delta;
    document.body.dataset.state = pending > 0 ? "loading" : lastFailed ? "error" : "ready";
  }

  function showMessage(text, isError) {
    message.textContent = text;
    message.classList.toggle("error", Boolean(isError));
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail) && body.detail.length > 0) return body.detail[0].msg;
    } catch (ignored) {
      // Not JSON (a proxy error page, for instance): fall back to the status line.
    }
    return "the server answered " + response.status;
  }

  // Runs one API call; resolves to the parsed body (null for 204) or throws a readable Error.
  async function callApi(method, url, payload) {
    const options = { method: method, headers: { Accept: "application/json" } };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    setBusy(+1);
    try {
      let response;
      try {
        response = await fetch(url, options);
      } catch (networkError) {
        throw new Error("cannot reach the server");
      }
      if (!response.ok) throw new Error(await errorText(response));
      lastFailed = false;
      return response.status === 204 ? null : await response.json();
    } catch (error) {
      lastFailed = true;
      throw error;
    } finally {
      setBusy(-1);
    }
  }

  function renderTask(task) {
    const item = document.createElement("li");
    item.className = "task";
    item.dataset.taskId = String(task.id);
    item.dataset.done = String(task.done);

    const checkboxId = "task-" + task.id + "-done";
    const checkbox = document.createElement("input");
    checkbox.type = "checkbox";
    checkbox.id = checkboxId;
    checkbox.checked = task.done;
    checkbox.dataset.action = "toggle";

    // textContent, never innerHTML: titles are user input.
    const label = document.createElement("label");
    label.htmlFor = checkboxId;
    label.className = "task-title";
    label.textContent = task.title;

    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "task-delete";
    remove.dataset.action = "delete";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", "Delete task: " + task.title);

    item.append(checkbox, label, remove);
    return item;
  }

  function render(tasks) {
    list.replaceChildren(...tasks.map(renderTask));
    emptyState.hidden = tasks.length > 0;
  }

  async function refresh() {
    render(await callApi("GET", API));
  }

  async function run(action, successText, failurePrefix) {
    try {
      await action();
      showMessage(successText, false);
    } catch (error) {
      showMessage(failurePrefix + error.message, true);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const title = titleInput.value;
    run(async function () {
      await callApi("POST", API, { title: title });
      titleInput.value = "";
      await refresh();
    }, "Task added.", "Could not add the task: ");
  });

  list.addEventListener("change", function (event) {
    const checkbox = event.target;
    if (checkbox.dataset.action !== "toggle") return;
    const item = checkbox.closest(".task");
    run(async function () {
      try {
        await callApi("PATCH", API + "/" + item.dataset.taskId, { done: checkbox.checked });
      } catch (error) {
        checkbox.checked = !checkbox.checked; // show the state the server still has
        throw error;
      }
      await refresh();
    }, checkbox.checked ? "Task done." : "Task reopened.", "Could not update the task: ");
  });

  list.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action='delete']");
    if (!button) return;
    const item = button.closest(".task");
    run(async function () {
      await callApi("DELETE", API + "/" + item.dataset.taskId);
      await refresh();
    }, "Task deleted.", "Could not delete the task: ");
  });

  run(refresh, "", "Could not load the tasks (reload the page to try again): ");
})();
