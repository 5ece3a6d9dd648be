// Labels of the status page: Chinese by default, English on the toggle (kept in localStorage).
"use strict";

const LABELS = {
  zh: {
    title: "网格边缘网关", checking: "检查中", ready: "运行正常", notReady: "部分异常",
    online: "实时", offline: "未连接", logout: "退出", openIncidents: "未处置事件",
    noIncidents: "当前没有未处置事件", recent: "最近解除", devices: "设备状态", device: "设备",
    kind: "类型", grid: "网格", lastSeen: "最后上报", health: "状态", cameras: "摄像头",
    noCameras: "未配置摄像头", loginTitle: "输入访问令牌",
    loginHelp: "令牌即网关配置中的 api.token，仅保存在本浏览器。", loginWrong: "令牌错误，请重试",
    save: "保存", district: "区", street: "街道", community: "社区", cell: "网格",
    ok: "正常", silent: "失联", never_seen: "从未上报", waiting: "等待上报", unmonitored: "不定期",
    opened: "发生", resolvedAt: "解除", severity: "级别", snapshot: "现场图片",
    info: "提示", warning: "警告", major: "严重", critical: "紧急",
    starting: "启动中", running: "运行中", backoff: "重连中", stalled: "无画面", ended: "已结束",
    stopped: "已停止", fps: "帧/秒", agoS: "秒前", agoM: "分钟前", agoH: "小时前", never: "—",
    deviceSummary: "失联 {silent} / 共 {total}",
    clip: "▶ 录像", play: "播放", pause: "暂停", download: "下载", close: "关闭", clipLoading: "加载录像…",
    clipMissing: "录像不可用：仍在录制，或已按存储上限清理",
  },
  en: {
    title: "Grid edge gateway", checking: "Checking", ready: "All ready", notReady: "Degraded",
    online: "Live", offline: "Offline", logout: "Log out", openIncidents: "Open incidents",
    noIncidents: "No open incidents", recent: "Recently resolved", devices: "Devices", device: "Device",
    kind: "Kind", grid: "Grid", lastSeen: "Last seen", health: "Health", cameras: "Cameras",
    noCameras: "No cameras configured", loginTitle: "Enter the access token",
    loginHelp: "The token is api.token of the gateway's config; it is kept in this browser only.",
    loginWrong: "Wrong token, try again", save: "Save", district: "District", street: "Street",
    community: "Community", cell: "Grid", ok: "OK", silent: "Silent", never_seen: "Never seen",
    waiting: "Waiting", unmonitored: "Event-driven", opened: "Opened", resolvedAt: "Resolved",
    severity: "Severity", snapshot: "Snapshot", info: "info", warning: "warning", major: "major",
    critical: "critical", starting: "starting", running: "running", backoff: "reconnecting",
    stalled: "stalled", ended: "ended", stopped: "stopped", fps: "fps", agoS: "s ago", agoM: "min ago",
    agoH: "h ago", never: "—", deviceSummary: "{silent} silent of {total}",
    clip: "▶ Clip", play: "Play", pause: "Pause", download: "Download", close: "Close",
    clipLoading: "Loading the clip…", clipMissing: "Clip not available: still recording, or evicted by the byte budget",
  },
};

let lang = localStorage.getItem("gridedge.lang") === "en" ? "en" : "zh";

function t(key) {
  return (LABELS[lang] && LABELS[lang][key]) || LABELS.zh[key] || key;
}

function applyLabels() {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  document.getElementById("lang").textContent = lang === "en" ? "中文" : "EN";
}

function toggleLang() {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("gridedge.lang", lang);
  applyLabels();
}
