/** The five SQuARE tasks, by their route names. */
export const TASK_NAMES = Object.freeze([
  "sequence-classification",
  "token-classification",
  "embedding",
  "question-answering",
  "generation",
] as const);

export type TaskName = (typeof TASK_NAMES)[number];

export const isTaskName = (s: string): s is TaskName => (TASK_NAMES as readonly string[]).includes(s);

/** SQuARE's "Queued ..." message words per task. */
export const QUEUED_MESSAGE: Readonly<Record<TaskName, string>> = Object.freeze({
  "sequence-classification": "Queued sequence classification",
  "token-classification": "Queued token classification",
  embedding: "Queued embedding",
  "question-answering": "Queued question answering",
  generation: "Queued generation",
});
