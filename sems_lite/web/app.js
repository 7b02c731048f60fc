// The conference page: JSON-RPC 2.0 over POST /rpc (application/json, same origin).
// Polls the room list and the open room's participants every second.
"use strict";

const POLL_MS = 1000;
let rpcId = 0;
let currentRoom = null;

async function rpc(method, params) {
  const response = await fetch("rpc", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", method, params, id: ++rpcId }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const answer = await response.json();
  if (answer.error) throw new Error(answer.error.message);
  return answer.result;
}

function say(text, isError) {
  const p = document.getElementById("message");
  p.textContent = text;
  p.className = isError ? "error" : "";
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(td, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  td.appendChild(b);
  return b;
}

async function act(method, params, done) {
  try {
    await rpc(method, params);
    say(done, false);
  } catch (err) {
    say(`${method} failed: ${err.message}`, true);
  }
  refresh();
}

function showRooms(rooms) {
  const body = document.querySelector("#rooms tbody");
  body.replaceChildren();
  for (const r of rooms) {
    const row = body.insertRow();
    row.dataset.room = r.room;
    cell(row, r.room);
    cell(row, String(r.participants), "count");
    cell(row, r.has_pin ? "yes" : "no");
    const td = row.insertCell();
    button(td, "Open", () => { currentRoom = r.room; refresh(); });
    button(td, "Delete", () => {
      if (currentRoom === r.room) currentRoom = null;
      act("conf.delete", [r.room], `room ${r.room} deleted`);
    });
  }
}

function showParticipants(info) {
  const view = document.getElementById("room-view");
  view.hidden = false;
  document.getElementById("current-room").textContent = info.room;
  const body = document.querySelector("#participants tbody");
  body.replaceChildren();
  for (const p of info.participants) {
    const row = body.insertRow();
    row.dataset.id = p.id;
    row.dataset.state = p.state;
    row.className = p.state;
    cell(row, p.from, "from");
    cell(row, p.state === "failed" ? `failed (${p.status})` : p.state, "state");
    cell(row, p.talking ? "talking" : "", p.talking ? "talking" : "");
    cell(row, `${p.talk_time_s.toFixed(1)} s`);
    const td = row.insertCell();
    if (p.state === "ringing" || p.state === "failed") {
      // A dial-out not in the room (yet): cancel the ringing call, or clear the failed one.
      const label = p.state === "ringing" ? "Cancel" : "Remove";
      button(td, label, () => act("conf.kick", [info.room, p.id], `${p.from}: ${label.toLowerCase()}d`))
        .className = "kick";
      continue;
    }
    const muted = p.state === "muted";
    const toggle = button(td, muted ? "Unmute" : "Mute", () =>
      act(muted ? "conf.unmute" : "conf.mute", [info.room, p.id], `${p.from} ${muted ? "unmuted" : "muted"}`));
    toggle.className = "mute";
    button(td, "Kick", () => act("conf.kick", [info.room, p.id], `${p.from} kicked`)).className = "kick";
  }
}

async function refresh() {
  try {
    showRooms(await rpc("conf.list", []));
    if (currentRoom !== null) showParticipants(await rpc("conf.info", [currentRoom]));
  } catch (err) {
    if (currentRoom !== null && /no room/.test(err.message)) {
      currentRoom = null;
      document.getElementById("room-view").hidden = true;
    }
    say(err.message, true);
  }
}

document.getElementById("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const room = document.getElementById("room").value.trim();
  const pin = document.getElementById("pin").value.trim();
  const admin = document.getElementById("admin_pin").value.trim();
  try {
    await rpc("conf.create", { room, admin_pin: admin, pin });
    currentRoom = room;
    say(`room ${room} created`, false);
  } catch (err) {
    say(`create failed: ${err.message}`, true);
  }
  refresh();
});

document.getElementById("dialout").addEventListener("submit", (event) => {
  event.preventDefault();
  if (currentRoom === null) return;
  const uri = document.getElementById("dialout-uri").value.trim();
  if (!uri) return;
  act("conf.dialout", [currentRoom, uri], `calling ${uri}`);
});

refresh();
setInterval(refresh, POLL_MS);
