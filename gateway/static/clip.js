// The clip player: plays an incident's pre/post clip (Motion-JPEG in AVI, as adapters/camera/avi.py
// writes it) in the page. Browsers have no AVI or MJPEG decoder for <video>, but every frame is a JPEG
// an <img> can show, so the page reads the RIFF chunks itself: no transcoding on the edge box.
"use strict";

const clipPlayer = { frames: [], fps: 5, index: 0, timer: null, download: null };

// Frames and rate of an MJPEG AVI: the '00dc' chunks of 'movi' (any stream's 'NNdc' too), the rate from
// avih's microseconds per frame. Chunks are walked, not indexed, so a clip without idx1 still plays.
function readMjpegAvi(buffer) {
  const view = new DataView(buffer);
  const fourcc = (at) => String.fromCharCode(...new Uint8Array(buffer, at, 4));
  if (buffer.byteLength < 12 || fourcc(0) !== "RIFF" || fourcc(8) !== "AVI ") throw new Error("not an AVI file");
  const out = { fps: 5, frames: [] };
  const walk = (start, end) => {
    for (let at = start; at + 8 <= end;) {
      const id = fourcc(at);
      const size = view.getUint32(at + 4, true);
      const body = at + 8;
      if (body + size > end) break; // cut short: keep the frames read so far
      if (id === "LIST") walk(body + 4, body + size);
      else if (id === "avih" && size >= 4 && view.getUint32(body, true) > 0) out.fps = 1e6 / view.getUint32(body, true);
      else if (/^\d\ddc$/.test(id) && size > 0) out.frames.push(new Uint8Array(buffer, body, size));
      at = body + size + (size % 2);
    }
  };
  walk(12, Math.min(buffer.byteLength, 8 + view.getUint32(4, true)));
  return out;
}

function clipShow(index) {
  const { frames } = clipPlayer;
  if (!frames.length) return;
  clipPlayer.index = index % frames.length;
  const img = document.getElementById("clip-frame");
  const url = URL.createObjectURL(new Blob([frames[clipPlayer.index]], { type: "image/jpeg" }));
  const old = img.src;
  img.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
  img.src = url;
  img.dataset.index = String(clipPlayer.index);
  document.getElementById("clip-position").textContent =
    `${clipPlayer.index + 1} / ${frames.length} · ${(clipPlayer.index / clipPlayer.fps).toFixed(1)} s`;
}

function clipPlay(on) {
  clearInterval(clipPlayer.timer);
  clipPlayer.timer = on ? setInterval(() => clipShow(clipPlayer.index + 1), 1000 / clipPlayer.fps) : null;
  const button = document.getElementById("clip-toggle");
  button.dataset.i18n = on ? "pause" : "play";
  button.textContent = t(button.dataset.i18n);
}

function clipStatus(key) {
  const status = document.getElementById("clip-status");
  status.hidden = !key;
  status.dataset.i18n = key || "";
  status.textContent = key ? t(key) : "";
}

async function openClip(url, title) {
  const dialog = document.getElementById("clip-dialog");
  closeClip();
  document.getElementById("clip-title").textContent = title;
  clipStatus("clipLoading");
  dialog.hidden = false;
  try {
    const blob = await api(url, true);
    const clip = readMjpegAvi(await blob.arrayBuffer());
    if (!clip.frames.length) throw new Error("no frames");
    Object.assign(clipPlayer, { frames: clip.frames, fps: Math.min(Math.max(clip.fps, 0.5), 60), index: 0 });
    clipPlayer.download = URL.createObjectURL(blob);
    const link = document.getElementById("clip-download");
    link.href = clipPlayer.download;
    link.download = url.split("/").slice(-2).join("_");
    clipStatus("");
    clipShow(0);
    clipPlay(true);
  } catch (err) {
    if (!(err instanceof Unauthorized)) clipStatus("clipMissing"); // 404: still recording, or evicted
  }
}

function closeClip() {
  clipPlay(false);
  const img = document.getElementById("clip-frame");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
  delete img.dataset.index;
  if (clipPlayer.download) URL.revokeObjectURL(clipPlayer.download);
  Object.assign(clipPlayer, { frames: [], index: 0, download: null });
  document.getElementById("clip-download").removeAttribute("href");
  document.getElementById("clip-position").textContent = "";
  document.getElementById("clip-dialog").hidden = true;
}

document.getElementById("clip-toggle").addEventListener("click", () => clipPlay(clipPlayer.timer === null));
document.getElementById("clip-close").addEventListener("click", closeClip);
document.getElementById("clip-dialog").addEventListener("click", (event) => {
  if (event.target.id === "clip-dialog") closeClip(); // a click beside the player closes it
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !document.getElementById("clip-dialog").hidden) closeClip();
});
