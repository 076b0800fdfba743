// Getting a rep's attention: a short beep and a desktop notification (both off by default,
// remembered per browser), and the count of open offers in the tab title.

const SOUND_KEY = "leadgrab.sound";
const NOTIFY_KEY = "leadgrab.notify";
let audio = null;

export function setup(soundBox, notifyBox) {
  soundBox.checked = localStorage.getItem(SOUND_KEY) === "on";
  notifyBox.checked = localStorage.getItem(NOTIFY_KEY) === "on" && notifyGranted();
  soundBox.addEventListener("change", () => {
    localStorage.setItem(SOUND_KEY, soundBox.checked ? "on" : "off");
    if (soundBox.checked) beep();
  });
  notifyBox.addEventListener("change", async () => {
    if (notifyBox.checked && "Notification" in window && Notification.permission !== "granted") {
      notifyBox.checked = (await Notification.requestPermission()) === "granted";
    }
    localStorage.setItem(NOTIFY_KEY, notifyBox.checked ? "on" : "off");
  });
}

function notifyGranted() {
  return "Notification" in window && Notification.permission === "granted";
}

// Browsers start an AudioContext made before the page's first click or key press suspended
// (autoplay policy); each beep resumes it, which works once the rep has touched the page.
function wake() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null; // no audio support
  }
  return audio;
}

function beep() {
  try {
    if (!wake()) return;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.08;
    osc.frequency.value = 880;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.12);
  } catch {
    // no audio device: stay silent
  }
}

export function newLead(text) {
  if (localStorage.getItem(SOUND_KEY) === "on") beep();
  // only when the rep is looking elsewhere: another tab, or another window in front
  const away = document.hidden || !document.hasFocus();
  if (localStorage.getItem(NOTIFY_KEY) === "on" && notifyGranted() && away) {
    new Notification("New lead", { body: text, tag: "leadgrab" });
  }
}

export function title(rep, offers) {
  document.title = `${offers ? `(${offers}) ` : ""}LeadGrab — ${rep}`;
}
