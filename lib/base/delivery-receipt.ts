/**
 * A queue delivery's acknowledgement handed to the task's final write (TaskStore.complete/fail):
 * a store that shares the queue's backend acknowledges the entry in the same atomic step and sets
 * `acked`, and the queue then does not acknowledge it again. Shared by lib/queue and lib/store,
 * which do not import each other.
 */
export interface DeliveryReceipt {
  model: string;
  /** The entry's id in the model's queue. */
  entryId: string;
  acked: boolean;
}
