/** The SPEC §3 request body after validation and defaults. */
export interface PreprocessingKwargs {
  max_length?: number;
  truncation?: boolean | "only_first" | "only_second" | "longest_first" | "do_not_truncate";
  padding?: unknown;
  add_special_tokens?: boolean;
  stride?: number;
  return_overflowing_tokens?: boolean;
}

export interface PreprocessedInput {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids?: number[][];
}

export interface TaskRequest {
  input: (string | [string, string])[] | PreprocessedInput;
  is_preprocessed: boolean;
  preprocessing_kwargs: PreprocessingKwargs;
  model_kwargs: Record<string, unknown>;
  task_kwargs: Record<string, unknown>;
  explain_kwargs: Record<string, unknown>;
  attack_kwargs: Record<string, unknown>;
  adapter_name: string | string[];
}

export function withDefaults(body: Partial<TaskRequest> & Pick<TaskRequest, "input">): TaskRequest {
  return {
    input: body.input,
    is_preprocessed: body.is_preprocessed ?? false,
    preprocessing_kwargs: body.preprocessing_kwargs ?? {},
    model_kwargs: body.model_kwargs ?? {},
    task_kwargs: body.task_kwargs ?? {},
    explain_kwargs: body.explain_kwargs ?? {},
    attack_kwargs: body.attack_kwargs ?? {},
    adapter_name: body.adapter_name ?? "",
  };
}

export const itemCount = (r: Pick<TaskRequest, "input">): number =>
  Array.isArray(r.input) ? r.input.length : Array.isArray(r.input?.input_ids) ? r.input.input_ids.length : 0;
