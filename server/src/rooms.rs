//! Where rooms live: in this process ([`Hub`]) or shared with other
//! processes through Redis ([`RedisHub`]). Sessions see one interface.

use crate::{
    hub::{Outbox, Refusal},
    Hub, RedisHub,
};

/// The room store a server uses.
pub enum Rooms {
    /// Rooms of this process only.
    Local(Hub),
    /// Rooms shared through Redis.
    Redis(RedisHub),
}

impl Rooms {
    /// Adds a peer to a room; see [`Hub::join`].
    pub async fn join(
        &self,
        room: &str,
        name: &str,
        wanted_id: Option<&str>,
        outbox: Outbox,
    ) -> Result<String, Refusal> {
        match self {
            Self::Local(hub) => hub.join(room, name, wanted_id, outbox),
            Self::Redis(hub) => hub.join(room, name, wanted_id, outbox).await,
        }
    }

    /// Removes a peer from its room; see [`Hub::leave`].
    pub async fn leave(&self, id: &str) {
        match self {
            Self::Local(hub) => hub.leave(id),
            Self::Redis(hub) => hub.leave(id).await,
        }
    }

    /// Relays a signal within a room; `data` is the JSON text of the
    /// payload. See [`Hub::signal`].
    pub async fn signal(&self, from: &str, to: &str, data: &str) -> Result<(), Refusal> {
        match self {
            Self::Local(hub) => hub.signal_json(from, to, data),
            Self::Redis(hub) => hub.signal(from, to, data).await,
        }
    }
}
