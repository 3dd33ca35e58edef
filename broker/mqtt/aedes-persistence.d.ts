// aedes-persistence ships the in-memory implementation's types under types/, which TypeScript does
// not find for the file itself.
declare module 'aedes-persistence/asyncPersistence.js' {
  export { default } from 'aedes-persistence/types/asyncPersistence.js'
}
