//! Rooms shared by several server processes through Redis.
//!
//! Membership lives in Redis: a hash per room (`peerlens:room:{room}`,
//! peer id → `{"name","node"}`) and a key per peer id
//! (`peerlens:peer:{id}`, → room) so ids stay unique across processes.
//! Each process (a "node") subscribes to its own channel
//! (`peerlens:node:{node}`); a frame for a peer is published to the channel
//! of the node holding that peer's socket. Membership changes run as Lua
//! scripts, so the room cap holds across processes.
//!
//! A node that dies without cleaning up would leave ghosts; every node
//! therefore refreshes `peerlens:alive:{node}` (15 s TTL), and joins drop
//! members whose node is gone.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

use futures_util::StreamExt;
use peerlens_protocol::{ErrorCode, IceServer, PeerInfo, ServerMessage};
use redis::{aio::MultiplexedConnection, AsyncCommands, Script};
use serde_json::{json, Value};

use crate::{
    hub::{random_id, Outbox, Refusal},
    turn::TurnConfig,
};

const ALIVE_TTL_SECS: u64 = 15;

/// Joins atomically: drops members of dead nodes, enforces the cap, claims
/// an id (the wanted one if free, else the fallback) and adds the member.
/// Returns `{"full"}` or `{"ok", id, field, value, field, value, ...}` with
/// the room's other members.
const JOIN: &str = r#"
local room, cap = KEYS[1], tonumber(ARGV[1])
local wanted, fallback, name, node, room_name = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local members = redis.call('HGETALL', room)
for i = 1, #members, 2 do
  local info = cjson.decode(members[i + 1])
  if redis.call('EXISTS', 'peerlens:alive:' .. info.node) == 0 then
    redis.call('HDEL', room, members[i])
    redis.call('DEL', 'peerlens:peer:' .. members[i])
  end
end
if redis.call('HLEN', room) >= cap then return {'full'} end
local id = fallback
if wanted ~= '' and redis.call('SET', 'peerlens:peer:' .. wanted, room_name, 'NX') then
  id = wanted
else
  redis.call('SET', 'peerlens:peer:' .. fallback, room_name)
end
local others = redis.call('HGETALL', room)
redis.call('HSET', room, id, cjson.encode({name = name, node = node}))
local out = {'ok', id}
for i = 1, #others do out[#out + 1] = others[i] end
return out
"#;

/// Leaves: removes the member and returns the remaining members.
const LEAVE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', 'peerlens:peer:' .. ARGV[1])
local rest = redis.call('HGETALL', KEYS[1])
if #rest == 0 then redis.call('DEL', KEYS[1]) end
return rest
"#;

struct Local {
    /// This node's peers: id → (room, outbox).
    peers: HashMap<String, (String, Outbox)>,
}

/// The Redis-backed rooms of one node.
pub struct RedisHub {
    node: String,
    room_cap: usize,
    ice_servers: Vec<IceServer>,
    turn: Option<TurnConfig>,
    conn: MultiplexedConnection,
    local: Arc<Mutex<Local>>,
}

fn room_key(room: &str) -> String {
    format!("peerlens:room:{room}")
}

fn node_channel(node: &str) -> String {
    format!("peerlens:node:{node}")
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    Refusal {
        code: ErrorCode::Other("unavailable".into()),
        message: format!("the room store is unavailable: {e}"),
    }
}

/// (id, name, node) of each member in a flat HGETALL reply.
fn members(flat: &[String]) -> Vec<(String, String, String)> {
    flat.chunks_exact(2)
        .map(|pair| {
            let info: Value = serde_json::from_str(&pair[1]).unwrap_or(Value::Null);
            let text = |key: &str| info[key].as_str().unwrap_or_default().to_owned();
            (pair[0].clone(), text("name"), text("node"))
        })
        .collect()
}

impl RedisHub {
    /// Connects, subscribes to this node's channel, and starts the liveness
    /// heartbeat.
    pub async fn connect(
        url: &str,
        room_cap: usize,
        ice_servers: Vec<IceServer>,
        turn: Option<TurnConfig>,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let conn = client.get_multiplexed_async_connection().await?;
        let node = random_id();
        let local = Arc::new(Mutex::new(Local {
            peers: HashMap::new(),
        }));
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(node_channel(&node)).await?;
        let deliver_to = Arc::clone(&local);
        tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                let Ok(envelope) = serde_json::from_str::<Value>(&payload) else {
                    continue;
                };
                let (Some(to), Some(frame)) = (envelope["to"].as_str(), envelope["frame"].as_str())
                else {
                    continue;
                };
                let outbox = lock(&deliver_to).peers.get(to).map(|(_, o)| o.clone());
                if let Some(outbox) = outbox {
                    outbox.send(frame.to_owned());
                }
            }
            tracing::error!("lost the Redis subscription; peers on other nodes are unreachable");
        });
        let mut alive = conn.clone();
        let alive_key = format!("peerlens:alive:{node}");
        let _: () = alive.set_ex(&alive_key, 1, ALIVE_TTL_SECS).await?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(ALIVE_TTL_SECS / 3));
            loop {
                tick.tick().await;
                let result: redis::RedisResult<()> =
                    alive.set_ex(&alive_key, 1, ALIVE_TTL_SECS).await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "cannot refresh this node's liveness in Redis");
                }
            }
        });
        tracing::info!(%node, "sharing rooms through Redis");
        Ok(Self {
            node,
            room_cap,
            ice_servers,
            turn,
            conn,
            local,
        })
    }

    async fn publish(&self, node: &str, to: &str, frame: &str) {
        if node == self.node {
            let outbox = lock(&self.local).peers.get(to).map(|(_, o)| o.clone());
            if let Some(outbox) = outbox {
                outbox.send(frame.to_owned());
            }
            return;
        }
        let envelope = json!({"to": to, "frame": frame}).to_string();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<()> = conn.publish(node_channel(node), envelope).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, %node, "cannot publish to another node");
        }
    }

    /// See [`crate::Hub::join`].
    pub async fn join(
        &self,
        room: &str,
        name: &str,
        wanted_id: Option<&str>,
        outbox: Outbox,
    ) -> Result<String, Refusal> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = Script::new(JOIN)
            .key(room_key(room))
            .arg(self.room_cap)
            .arg(wanted_id.unwrap_or_default())
            .arg(random_id())
            .arg(name)
            .arg(&self.node)
            .arg(room)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let (status, id) = (reply.first().map(String::as_str), reply.get(1));
        let id = match (status, id) {
            (Some("ok"), Some(id)) => id.clone(),
            (Some("full"), _) => {
                return Err(Refusal {
                    code: ErrorCode::RoomFull,
                    message: format!("room {room:?} already has {} peers", self.room_cap),
                })
            }
            _ => return Err(unavailable("unexpected script reply")),
        };
        let others = members(&reply[2..]);
        lock(&self.local)
            .peers
            .insert(id.clone(), (room.to_owned(), outbox.clone()));
        let mut ice_servers = self.ice_servers.clone();
        if let Some(turn) = &self.turn {
            ice_servers.push(turn.credentials(&id, SystemTime::now()));
        }
        let welcome = ServerMessage::Welcome {
            id: id.clone(),
            peers: others
                .iter()
                .map(|(id, name, _)| PeerInfo {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
            ice_servers,
        };
        outbox.send(welcome.to_json());
        let joined = ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: id.clone(),
                name: name.to_owned(),
            },
        }
        .to_json();
        for (other, _, node) in &others {
            self.publish(node, other, &joined).await;
        }
        Ok(id)
    }

    /// See [`crate::Hub::leave`].
    pub async fn leave(&self, id: &str) {
        let Some((room, _)) = lock(&self.local).peers.remove(id) else {
            return;
        };
        let mut conn = self.conn.clone();
        let rest: Vec<String> = match Script::new(LEAVE)
            .key(room_key(&room))
            .arg(id)
            .invoke_async(&mut conn)
            .await
        {
            Ok(rest) => rest,
            Err(e) => {
                tracing::warn!(error = %e, %id, "cannot record a leave in Redis");
                return;
            }
        };
        let left = ServerMessage::PeerLeft { id: id.to_owned() }.to_json();
        for (other, _, node) in members(&rest) {
            self.publish(&node, &other, &left).await;
        }
    }

    /// See [`crate::Hub::signal`].
    pub async fn signal(&self, from: &str, to: &str, data: &str) -> Result<(), Refusal> {
        let unknown = || Refusal {
            code: ErrorCode::UnknownPeer,
            message: format!("no peer {to:?} in your room"),
        };
        let room = lock(&self.local)
            .peers
            .get(from)
            .map(|(room, _)| room.clone())
            .ok_or_else(unknown)?;
        let mut conn = self.conn.clone();
        let target: Option<String> = conn.hget(room_key(&room), to).await.map_err(unavailable)?;
        let target = target.ok_or_else(unknown)?;
        let node = serde_json::from_str::<Value>(&target)
            .ok()
            .and_then(|v| v["node"].as_str().map(str::to_owned))
            .ok_or_else(unknown)?;
        let frame = crate::hub::signal_frame(from, data);
        self.publish(&node, to, &frame).await;
        Ok(())
    }
}

fn lock(local: &Mutex<Local>) -> MutexGuard<'_, Local> {
    local
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
