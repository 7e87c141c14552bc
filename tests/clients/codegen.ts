import type { CodegenConfig } from '@graphql-codegen/cli';

// Types for the suite's own operations, generated from the committed schema: a breaking
// schema change fails `tsc --noEmit`.
const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/operations.graphql'],
  generates: {
    'src/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        scalars: { DateTime: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
