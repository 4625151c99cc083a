//! Stage two of the ladder, lesson 05: one thread, many clients, select(2)
//! written out by hand.
//!
//! Builds on [`crate::generators`]: the tasks are lesson 02's generators and
//! they yield lesson 03's [`Request`](crate::Request)s, now with `Read(fd)`
//! and `Write(fd)` besides `Sleep`. The loop that serves them is lesson 03's
//! `run` grown two lists and a call to select(2).
//!
//! | module          | what it is                                            |
//! |-----------------|-------------------------------------------------------|
//! | [`select_loop`] | sleepers, `to_read`, `to_write` and select(2)          |
//! | [`sock`]        | `sock_accept`/`sock_recv`/`sock_sendall` for tasks     |
//! | [`net`]         | listening sockets with a backlog of 1,024 (also used by the reactor) |
//! | [`descriptors`] | the open-files limit; holding low descriptor numbers   |
//! | [`ready`]       | `wait_ready`: poll(2) as one call, for the workshop's exercises |

pub mod descriptors;
pub mod net;
pub mod ready;
pub mod select_loop;
pub mod sock;
