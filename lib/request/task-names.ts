/** The five SQuARE tasks, by their route names (SPEC §2). What each task does lives in lib/tasks. */
export const TASK_NAMES = Object.freeze([
  "sequence-classification",
  "token-classification",
  "embedding",
  "question-answering",
  "generation",
] as const);

export type TaskName = (typeof TASK_NAMES)[number];
