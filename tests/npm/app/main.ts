import init, { Camera, Effects, Room, runningObjects } from "peerlens";

interface AppState {
  status: string;
  error?: string;
  effectsFrames: number;
  peers: string[];
  log: string[];
  /** Weak references to the handles: whether the collector freed them. */
  handles?: WeakRef<object>[];
  /** How many started objects the library still runs. */
  running?: () => number;
  /** With ?keep=1: stops the camera, the effects and the room. */
  stop?: () => void;
}

const state: AppState = { status: "starting", effectsFrames: 0, peers: [], log: [] };
(window as unknown as { app: AppState }).app = state;

function setStatus(status: string): void {
  state.status = status;
  document.getElementById("status")!.textContent = status;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  await init();
  setStatus("camera");
  const camera = await Camera.open({ width: 640, height: 480 });
  setStatus("effects");
  const effects = await Effects.load({
    modelBase: "/models",
    settings: { faceBoxes: true },
    statsIntervalMs: 500,
    onStats: (stats) => { state.effectsFrames = stats.processed; },
    onError: (error) => { state.error = `${error.name}: ${error.message}`; },
  });
  const processed = await effects.apply(camera.stream);
  const local = document.getElementById("local") as HTMLVideoElement;
  local.srcObject = processed;
  setStatus("joining");
  const room = Room.join({
    url: params.get("signal") ?? `ws://${location.host}/ws`,
    room: params.get("room") ?? "npm",
    name: params.get("name") ?? "",
    onJoined: () => setStatus("joined"),
    onTrack: (peer, track, streams) => {
      if (track.kind !== "video") return;
      let video = document.querySelector<HTMLVideoElement>(`video[data-peer="${peer}"]`);
      if (!video) {
        video = document.createElement("video");
        video.muted = true;
        video.autoplay = true;
        video.playsInline = true;
        video.dataset.peer = peer;
        document.getElementById("remote")!.appendChild(video);
        state.peers.push(peer);
      }
      video.srcObject = streams[0] ?? new MediaStream([track]);
    },
    onPeerState: (peer, peerState) => { state.log.push(`${peer} ${peerState}`); },
    onPeerLeft: (peer, reason) => {
      state.log.push(`${peer} left: ${reason}`);
      document.querySelector(`video[data-peer="${peer}"]`)?.remove();
      state.peers = state.peers.filter((p) => p !== peer);
    },
    onError: (error) => { state.error = `${error.name}: ${error.message}`; },
  });
  room.publish(processed);
  state.running = runningObjects;
  // By default the app keeps no reference to its camera, effects or room,
  // as plenty of apps don't: they must go on running after the garbage
  // collector frees the handles. ?keep=1 keeps them, to stop them.
  state.handles = [new WeakRef(camera), new WeakRef(effects), new WeakRef(room)];
  if (params.get("keep") === "1") keep(camera, effects, room);
}

// Outside main: a closure in main that named the handles would keep them
// alive through every callback main made.
function keep(camera: Camera, effects: Effects, room: Room): void {
  state.stop = () => {
    room.leave();
    effects.stop();
    camera.stop();
    setStatus("stopped");
  };
}

main().catch((error: Error) => {
  state.error = `${error.name}: ${error.message}`;
  setStatus("failed");
});
