//! `Queue`, `PriorityQueue`, `LifoQueue`: hand items from producers to consumers (asyncio's). Introduced by lesson 09.
//!
//! `put` waits while a bounded queue is full, `get` waits while it is
//! empty; that waiting *is* the back-pressure between a fast producer and a
//! slow consumer. `task_done` / `join` let a producer wait until every item
//! it put has been processed, not only taken.
//!
//! ## Reservations, so that nobody barges in and nothing is lost
//!
//! Items always live in the queue's store; waiters are handed a
//! *reservation*, not the item:
//!
//! * a `put` on a queue with waiting getters reserves the new item for the
//!   first getter (`reserved_items += 1`) and wakes it; `get_nowait` only
//!   sees the items beyond the reservations, so it cannot steal it;
//! * a `get` on a full queue with waiting putters reserves the freed slot
//!   for the first putter (`reserved_slots += 1`); `put_nowait` counts it
//!   as taken.
//!
//! A woken waiter uses its reservation when it runs. A waiter cancelled
//! after it was handed one (the put and the cancel both came before it
//! ran) gives it back, and the next waiter gets it: the item stays queued,
//! in its place, so none is lost, duplicated or reordered.
//!
//! A cancelled `put` drops its item (it was never queued), as asyncio's
//! does; a `put` that returned `Ok` queued it.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use tracing::debug;

use crate::sync::waiters::{Label, SyncError, WaitList};

/// Where a queue keeps its items: the order `get` takes them in.
///
/// The store is borrowed while it pushes and pops, so a `PriorityQueue`'s
/// `Ord` (the one piece of item code it runs) must not use the same queue.
pub trait Store<T>: Default {
    /// The store's kind, for the trace (`"Queue"`).
    const KIND: &'static str;
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// How many items it holds.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out: [`Queue`].
pub struct Fifo<T>(VecDeque<T>);

/// Smallest first: [`PriorityQueue`] (asyncio's, a heap; put `(priority,
/// item)` tuples to order by priority).
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

/// Last in, first out: [`LifoQueue`].
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    const KIND: &'static str = "Queue";
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    const KIND: &'static str = "PriorityQueue";
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    const KIND: &'static str = "LifoQueue";
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct QueueState<T, S> {
    label: Label,
    /// 0: unbounded (asyncio's `maxsize=0`).
    maxsize: usize,
    items: RefCell<S>,
    getters: WaitList,
    putters: WaitList,
    /// Queued items promised to woken getters that have not run yet.
    reserved_items: Cell<usize>,
    /// Free slots promised to woken putters that have not run yet.
    reserved_slots: Cell<usize>,
    /// Items put and not yet marked `task_done`.
    unfinished: Cell<usize>,
    joiners: WaitList,
    _item: std::marker::PhantomData<T>,
}

impl<T, S: Store<T>> QueueState<T, S> {
    fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Whether a new `put_nowait` finds room (reserved slots are taken).
    fn has_room(&self) -> bool {
        self.maxsize == 0 || self.len() + self.reserved_slots.get() < self.maxsize
    }

    /// Whether a new `get_nowait` finds an item (reserved items are taken).
    fn has_item(&self) -> bool {
        self.len() > self.reserved_items.get()
    }

    // ANCHOR: hand_on
    /// After an item arrived (or a reservation came back): reserve an
    /// unreserved item for the first waiting getter.
    fn serve_getter(&self) {
        if self.has_item() && self.getters.grant_first() {
            self.reserved_items.set(self.reserved_items.get() + 1);
        }
    }

    /// After an item left (or a reservation came back): reserve a free slot
    /// for the first waiting putter.
    fn serve_putter(&self) {
        if self.maxsize != 0 && self.has_room() && self.putters.grant_first() {
            self.reserved_slots.set(self.reserved_slots.get() + 1);
        }
    }
    // ANCHOR_END: hand_on

    fn push(&self, item: T) {
        self.items.borrow_mut().push(item);
        self.unfinished.set(self.unfinished.get() + 1);
        self.serve_getter();
    }

    fn pop(&self) -> Option<T> {
        let item = self.items.borrow_mut().pop();
        self.serve_putter();
        item
    }
}

/// The queue itself, for any [`Store`]: [`Queue`], [`PriorityQueue`] and
/// [`LifoQueue`] are this with their store, and reach its methods through
/// `Deref`. Clones are handles to the same queue.
pub struct QueueOf<T, S: Store<T>> {
    state: Rc<QueueState<T, S>>,
}

/// Defines one public queue type: a handle to a [`QueueOf`] with its store,
/// so that `Queue::new(2)` needs no type annotation for the store.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $store:ident $(, $bound:path)?) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?>(QueueOf<T, $store<T>>);

        impl<T $(: $bound)?> $name<T> {
            /// A queue holding at most `maxsize` items; `0` means unbounded,
            /// as in asyncio.
            pub fn new(maxsize: usize) -> Self {
                $name(QueueOf::with_label(maxsize, None))
            }

            /// The same, with a name for the trace (`Queue "jobs"`).
            pub fn named(maxsize: usize, name: impl Into<Cow<'static, str>>) -> Self {
                $name(QueueOf::with_label(maxsize, Some(name.into())))
            }

            /// An unbounded queue: `put` never waits.
            pub fn unbounded() -> Self {
                $name::new(0)
            }
        }

        impl<T $(: $bound)?> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name(self.0.clone())
            }
        }

        impl<T $(: $bound)?> std::ops::Deref for $name<T> {
            type Target = QueueOf<T, $store<T>>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

queue_type!(
    /// A first-in first-out queue between tasks of one loop (asyncio:
    /// `asyncio.Queue`). Clones are handles to the same queue; the methods
    /// are [`QueueOf`]'s.
    ///
    /// ```
    /// # use yieldloop::{spawn, Builder, Clock, Queue};
    /// let mut event_loop = Builder::new().clock(Clock::new_virtual()).build().unwrap();
    /// let got = event_loop.run_until_complete(|| {
    ///     let queue = Queue::named(2, "jobs"); // bounded: put waits while 2 are queued
    ///     let consumer = spawn("consumer", {
    ///         let queue = queue.clone();
    ///         move || (0..3).map(|_| queue.get().unwrap()).collect::<Vec<i32>>()
    ///     });
    ///     for job in 1..=3 { queue.put(job).unwrap(); } // the third waits for a get
    ///     consumer.join().unwrap()
    /// }).unwrap();
    /// assert_eq!(got, [1, 2, 3]);
    /// ```
    Queue,
    Fifo
);

queue_type!(
    /// A queue that hands out the smallest item first (asyncio:
    /// `asyncio.PriorityQueue`; put `(priority, item)` tuples).
    ///
    /// ```
    /// # use yieldloop::PriorityQueue;
    /// let queue = PriorityQueue::new(0);
    /// for n in [3, 1, 2] { queue.put_nowait(n).unwrap(); }
    /// assert_eq!(queue.get_nowait(), Ok(1));
    /// ```
    PriorityQueue,
    Priority,
    Ord
);

queue_type!(
    /// A queue that hands out the newest item first (asyncio:
    /// `asyncio.LifoQueue`).
    LifoQueue,
    Lifo
);

/// `put_nowait` on a full queue; holds the item that was not put.
#[derive(PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

/// `get_nowait` on a queue with nothing to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEmpty;

/// `task_done` called more times than items were put (asyncio: `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneTooOften;

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full: put_nowait would have to wait (use put to wait)")
    }
}

impl<T> Error for QueueFull<T> {}

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty: get_nowait would have to wait (use get to wait)")
    }
}

impl Error for QueueEmpty {}

impl fmt::Display for TaskDoneTooOften {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than there were items put")
    }
}

impl Error for TaskDoneTooOften {}

impl<T, S: Store<T>> Clone for QueueOf<T, S> {
    fn clone(&self) -> Self {
        QueueOf {
            state: self.state.clone(),
        }
    }
}

impl<T, S: Store<T>> QueueOf<T, S> {
    fn with_label(maxsize: usize, name: Option<Cow<'static, str>>) -> Self {
        QueueOf {
            state: Rc::new(QueueState {
                label: Label::new(S::KIND, name),
                maxsize,
                items: RefCell::new(S::default()),
                getters: WaitList::default(),
                putters: WaitList::default(),
                reserved_items: Cell::new(0),
                reserved_slots: Cell::new(0),
                unfinished: Cell::new(0),
                joiners: WaitList::default(),
                _item: std::marker::PhantomData,
            }),
        }
    }

    // ANCHOR: put
    /// Puts an item, waiting (suspending this task) while the queue is
    /// full. Errors: cancelled while waiting (the item was not put and is
    /// dropped); no task to suspend on a full queue.
    pub fn put(&self, item: T) -> Result<(), SyncError> {
        let item = match self.put_nowait(item) {
            Ok(()) => return Ok(()),
            Err(QueueFull(item)) => item,
        };
        let state = &self.state;
        state.putters.wait(&state.label, "Queue::put", || {
            // Handed a slot, then cancelled: the slot goes to the next putter.
            state.reserved_slots.set(state.reserved_slots.get() - 1);
            state.serve_putter();
        })?;
        state.reserved_slots.set(state.reserved_slots.get() - 1);
        state.push(item);
        Ok(())
    }

    /// Puts an item if there is room now; else gives it back in
    /// [`QueueFull`].
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        let state = &self.state;
        if !state.putters.is_empty() || !state.has_room() {
            return Err(QueueFull(item));
        }
        state.push(item);
        Ok(())
    }
    // ANCHOR_END: put

    // ANCHOR: get
    /// Takes an item, waiting (suspending this task) while the queue is
    /// empty. Errors: cancelled while waiting (no item is taken: one that
    /// had been reserved for it goes to the next getter); no task to
    /// suspend on an empty queue.
    pub fn get(&self) -> Result<T, SyncError> {
        loop {
            if let Ok(item) = self.get_nowait() {
                return Ok(item);
            }
            let state = &self.state;
            state.getters.wait(&state.label, "Queue::get", || {
                // Handed an item, then cancelled: it stays queued, in its
                // place, for the next getter.
                state.reserved_items.set(state.reserved_items.get() - 1);
                state.serve_getter();
            })?;
            state.reserved_items.set(state.reserved_items.get() - 1);
            if let Some(item) = state.pop() {
                return Ok(item);
            }
            // Unreachable while the reservations are counted right; wait
            // again rather than fail.
        }
    }

    /// Takes an item if one is there now (and not reserved for a waiting
    /// getter); else [`QueueEmpty`].
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let state = &self.state;
        if !state.getters.is_empty() || !state.has_item() {
            return Err(QueueEmpty);
        }
        state.pop().ok_or(QueueEmpty)
    }
    // ANCHOR_END: get

    /// Marks one item taken by `get` as processed; when every item put has
    /// been, `join` returns.
    pub fn task_done(&self) -> Result<(), TaskDoneTooOften> {
        let state = &self.state;
        match state.unfinished.get() {
            0 => Err(TaskDoneTooOften),
            1 => {
                state.unfinished.set(0);
                state.joiners.grant_all();
                Ok(())
            }
            n => {
                state.unfinished.set(n - 1);
                Ok(())
            }
        }
    }

    /// Waits until every item put has been marked `task_done`.
    pub fn join(&self) -> Result<(), SyncError> {
        let state = &self.state;
        if state.unfinished.get() == 0 {
            return Ok(());
        }
        debug!(target: "yieldloop::sync", "{}: join waits for {} unfinished items", state.label, state.unfinished.get());
        state.joiners.wait(&state.label, "Queue::join", || {})
    }

    /// How many items are queued (including ones reserved for woken getters
    /// that have not run yet, as asyncio counts them).
    pub fn qsize(&self) -> usize {
        self.state.len()
    }

    /// The bound given to `new` (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.state.maxsize
    }

    /// Whether `qsize()` is 0.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is bounded and holds `maxsize` items.
    pub fn full(&self) -> bool {
        self.state.maxsize != 0 && self.qsize() >= self.state.maxsize
    }

    /// How many tasks wait in `get`.
    pub fn getter_count(&self) -> usize {
        self.state.getters.len()
    }

    /// How many tasks wait in `put`.
    pub fn putter_count(&self) -> usize {
        self.state.putters.len()
    }

    /// Items put and not yet marked `task_done`.
    pub fn unfinished(&self) -> usize {
        self.state.unfinished.get()
    }
}

impl<T, S: Store<T>> fmt::Debug for QueueOf<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(S::KIND)
            .field("label", &self.state.label.to_string())
            .field("qsize", &self.qsize())
            .field("maxsize", &self.maxsize())
            .field("getters", &self.getter_count())
            .field("putters", &self.putter_count())
            .finish()
    }
}
